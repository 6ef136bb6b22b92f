//! `nib protocol push` / `nib protocol list`.

use std::path::Path;

use babel_api::pb::api::v1 as api;
use babel_api::protocols_yaml;
use eyre::Result;

use crate::api_client::{Api, api_err, not_found_as_none, visibility};

pub async fn push(api: &mut Api, path: &Path) -> Result<()> {
    let protocols = protocols_yaml::load_validated(path)?;
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
                    println!("Protocol '{}' updated", p.key);
                } else {
                    println!("Protocol '{}' unchanged", p.key);
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
                println!("Protocol '{}' added", p.key);
            }
        }
    }
    Ok(())
}

pub async fn list(api: &mut Api, name: Option<String>, number: u64) -> Result<()> {
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
    if resp.protocols.is_empty() {
        println!("No protocols found.");
    }
    for p in resp.protocols {
        match &p.description {
            Some(d) => println!("- {} [{}]: {d}", p.name, p.key),
            None => println!("- {} ({})", p.name, p.key),
        }
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
                println!("   * {v}/{}", ver.semantic_version);
            }
        }
    }
    Ok(())
}
