//! `nib protocol push` / `nib protocol list`.

use std::path::Path;

use babel_api::pb::api::v1 as api;
use babel_manifest::protocols_yaml;
use eyre::Result;

use crate::api_client::{Api, api_err, not_found_as_none, visibility};
use crate::cli::Format;

/// Prints one push result line (text) or collects it (json).
struct Report {
    format: Format,
    done: Vec<serde_json::Value>,
}

impl Report {
    fn push(&mut self, key: &str, action: &str) {
        match self.format {
            Format::Text => println!("Protocol '{key}' {action}"),
            Format::Json => self
                .done
                .push(serde_json::json!({"protocol": key, "action": action})),
        }
    }

    fn finish(self) {
        if self.format == Format::Json {
            println!("{}", serde_json::Value::Array(self.done));
        }
    }
}

pub async fn push(api: &mut Api, path: &Path, format: Format) -> Result<()> {
    let protocols = protocols_yaml::load_validated(path)?;
    let mut report = Report {
        format,
        done: vec![],
    };
    for p in protocols {
        let existing = not_found_as_none(
            api.protocols
                .get_protocol(api::GetProtocolRequest {
                    protocol: Some(api::get_protocol_request::Protocol::ProtocolKey(
                        p.key.clone(),
                    )),
                })
                .await,
        )
        .map_err(api_err("cannot get protocol"))?;
        let vis = visibility(p.visibility) as i32;
        match existing {
            Some(remote) => {
                let changed = remote.name != p.name
                    || remote.description != p.description
                    || remote.ticker != p.ticker
                    || remote.visibility != vis
                    || remote.org_id != p.org_id;
                if changed {
                    api.protocols
                        .update_protocol(api::UpdateProtocolRequest {
                            protocol_id: remote.protocol_id,
                            name: Some(p.name.clone()),
                            description: p.description.clone(),
                            ticker: p.ticker.clone(),
                            visibility: Some(vis),
                            org_id: p.org_id.clone(),
                        })
                        .await
                        .map_err(api_err("cannot update protocol"))?;
                    report.push(&p.key, "updated");
                } else {
                    report.push(&p.key, "unchanged");
                }
            }
            None => {
                api.protocols
                    .add_protocol(api::AddProtocolRequest {
                        org_id: p.org_id.clone(),
                        key: p.key.clone(),
                        name: p.name.clone(),
                        description: p.description.clone(),
                        ticker: p.ticker.clone(),
                        visibility: vis,
                    })
                    .await
                    .map_err(api_err("cannot add protocol"))?;
                report.push(&p.key, "added");
            }
        }
    }
    report.finish();
    Ok(())
}

pub async fn list(api: &mut Api, name: Option<String>, number: u64, format: Format) -> Result<()> {
    let resp = api
        .protocols
        .list_protocols(api::ListProtocolsRequest {
            org_id: None,
            search: name,
            page: Some(api::Page {
                offset: 0,
                limit: number,
            }),
        })
        .await
        .map_err(api_err("cannot list protocols"))?
        .into_inner();
    let text = format == Format::Text;
    if resp.protocols.is_empty() && text {
        println!("No protocols found.");
    }
    let mut listed = vec![];
    for p in resp.protocols {
        if text {
            match &p.description {
                Some(d) => println!("- {} [{}]: {d}", p.name, p.key),
                None => println!("- {} ({})", p.name, p.key),
            }
        }
        let mut json_versions = vec![];
        let variants = api
            .protocols
            .list_variants(api::ListVariantsRequest {
                protocol_key: p.key.clone(),
                org_id: None,
            })
            .await
            .map_err(api_err("cannot list variants"))?
            .into_inner();
        for v in variants.variant_keys {
            let versions = api
                .protocols
                .list_versions(api::ListVersionsRequest {
                    version_key: Some(api::ProtocolVersionKey {
                        protocol_key: p.key.clone(),
                        variant_key: v.clone(),
                    }),
                    org_id: None,
                })
                .await
                .map_err(api_err("cannot list versions"))?
                .into_inner();
            for ver in versions.versions {
                if text {
                    println!("   * {v}/{}", ver.semantic_version);
                }
                json_versions.push(
                    serde_json::json!({"variant": v, "semantic_version": ver.semantic_version}),
                );
            }
        }
        listed.push(serde_json::json!({
            "protocol_id": p.protocol_id,
            "key": p.key,
            "name": p.name,
            "description": p.description,
            "ticker": p.ticker,
            "versions": json_versions,
        }));
    }
    if !text {
        println!("{}", serde_json::Value::Array(listed));
    }
    Ok(())
}
