//! ImageService: image builds of protocol versions, their visibility and archives.

use babel_api::pb::api::v1 as pb;
use pb::image_service_server::ImageService;
use tonic::{Request, Response, Status};

use super::error::{ApiError, ApiResult, grpc};
use super::protocol::visibility_or_private;
use super::{State, check_kebab, not_found, page, required};
use crate::auth::{Scope, principal};
use crate::db::{self, Db};

#[derive(Debug, Clone)]
pub struct Images(pub State);

fn validate(req: &pb::AddImageRequest) -> ApiResult<()> {
    if req.image_uri.trim().is_empty() {
        return Err(ApiError::Empty { field: "image_uri" });
    }
    if !req.min_babel_version.is_empty() {
        semver::Version::parse(&req.min_babel_version).map_err(|e| ApiError::NotSemver {
            field: "min_babel_version",
            value: req.min_babel_version.clone(),
            source: e,
        })?;
    }
    for p in &req.properties {
        check_kebab("property key", &p.key)?;
        if let Some(group) = &p.key_group {
            check_kebab("property key_group", group)?;
        }
    }
    for pointer in &req.archive_pointers {
        match &pointer.pointer {
            Some(pb::archive_pointer::Pointer::StoreKey(k)) => check_kebab("store_key", k)?,
            Some(pb::archive_pointer::Pointer::Disallowed(_)) => {}
            None => {
                return Err(ApiError::EmptyArchivePointer);
            }
        }
    }
    if let Some(fw) = &req.firewall {
        for rule in &fw.rules {
            check_kebab("firewall rule key", &rule.key)?;
        }
    }
    Ok(())
}

/// Finds an image by variant and optional version/build (latest when absent).
pub async fn find_image(
    db: &Db,
    key: &pb::ProtocolVersionKey,
    version: Option<&str>,
    build: Option<u64>,
) -> ApiResult<pb::Image> {
    let name = format!("{}/{}", key.protocol_key, key.variant_key);
    let versions = db::protocols::versions_of(db, &key.protocol_key, &key.variant_key).await?;
    let version_row = match version {
        Some(v) => versions.iter().find(|r| r.semantic_version == v),
        None => versions.first(),
    }
    .ok_or_else(|| {
        not_found(
            "protocol version",
            format!("{name}/{}", version.unwrap_or("latest")),
        )
    })?;
    let builds = db::images::builds_of(db, &version_row.protocol_version_id).await?;
    let image = match build {
        Some(b) => builds.iter().find(|r| r.build_version == b as i64),
        None => builds.first(),
    }
    .ok_or_else(|| {
        not_found(
            "image",
            format!(
                "{name}/{}/{}",
                version_row.semantic_version,
                build
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "latest".into())
            ),
        )
    })?;
    Ok(image.to_proto()?)
}

#[tonic::async_trait]
impl ImageService for Images {
    async fn add_image(
        &self,
        req: Request<pb::AddImageRequest>,
    ) -> Result<Response<pb::Image>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ImageWrite)?;
            let req = req.into_inner();
            validate(&req)?;
            let version = db::protocols::version_by_id(&self.0.db, &req.protocol_version_id)
                .await?
                .ok_or_else(|| not_found("protocol version", &req.protocol_version_id))?;
            let image = pb::Image {
                image_id: String::new(),
                protocol_version_id: version.protocol_version_id.clone(),
                org_id: req.org_id,
                version_key: Some(pb::ProtocolVersionKey {
                    protocol_key: version.protocol_key.clone(),
                    variant_key: version.variant_key.clone(),
                }),
                semantic_version: version.semantic_version.clone(),
                build_version: 0,
                description: req.description,
                image_uri: req.image_uri,
                properties: req.properties,
                firewall: req.firewall,
                min_cpu_cores: req.min_cpu_cores,
                min_memory_bytes: req.min_memory_bytes,
                min_disk_bytes: req.min_disk_bytes,
                ramdisks: req.ramdisks,
                archive_pointers: req.archive_pointers,
                min_babel_version: req.min_babel_version,
                dns_scheme: req.dns_scheme,
                visibility: visibility_or_private(req.visibility)?,
                protocol_id: version.protocol_id.clone(),
                created_at: None,
                updated_at: None,
            };
            // Two concurrent pushes may race for the same build number: retry once.
            let row = match db::images::insert(&self.0.db, &image).await {
                Ok(row) => row,
                Err(_) => db::images::insert(&self.0.db, &image).await?,
            };
            Ok(row.to_proto()?)
        })
        .await
    }

    async fn get_image(
        &self,
        req: Request<pb::GetImageRequest>,
    ) -> Result<Response<pb::Image>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ImageRead)?;
            let req = req.into_inner();
            let key = required("version_key", req.version_key.as_ref())?;
            let image = find_image(
                &self.0.db,
                key,
                req.semantic_version.as_deref(),
                req.build_version,
            )
            .await?;
            Ok(image)
        })
        .await
    }

    async fn list_images(
        &self,
        req: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesResponse>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ImageRead)?;
            let req = req.into_inner();
            let version_ids: Vec<String> = match (&req.protocol_version_id, &req.version_key) {
                (Some(id), _) => vec![id.clone()],
                (None, Some(key)) => {
                    db::protocols::versions_of(&self.0.db, &key.protocol_key, &key.variant_key)
                        .await?
                        .into_iter()
                        .map(|v| v.protocol_version_id)
                        .collect()
                }
                (None, None) => {
                    return Err(ApiError::RequiredOneOf(
                        "protocol_version_id",
                        "version_key",
                    ));
                }
            };
            let mut images = Vec::new();
            for id in version_ids {
                for row in db::images::builds_of(&self.0.db, &id).await? {
                    images.push(row.to_proto()?);
                }
            }
            let total = images.len() as u64;
            let (offset, limit) = page(req.page.as_ref());
            let images = images
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            Ok(pb::ListImagesResponse { images, total })
        })
        .await
    }

    async fn update_image(
        &self,
        req: Request<pb::UpdateImageRequest>,
    ) -> Result<Response<pb::Image>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ImageWrite)?;
            let req = req.into_inner();
            db::images::by_id(&self.0.db, &req.image_id)
                .await?
                .ok_or_else(|| not_found("image", &req.image_id))?;
            if let Some(v) = req.visibility {
                db::images::set_visibility(&self.0.db, &req.image_id, visibility_or_private(v)?)
                    .await?;
            }
            let row = db::images::by_id(&self.0.db, &req.image_id)
                .await?
                .ok_or_else(|| not_found("image", &req.image_id))?;
            Ok(row.to_proto()?)
        })
        .await
    }

    async fn list_archives(
        &self,
        req: Request<pb::ListArchivesRequest>,
    ) -> Result<Response<pb::ListArchivesResponse>, Status> {
        grpc(async move {
            principal(&req)?.require(Scope::ImageRead)?;
            let rows = db::images::archives_of(&self.0.db, &req.get_ref().image_id).await?;
            let archives = rows
                .iter()
                .map(|r| r.to_proto())
                .collect::<Result<_, _>>()?;
            Ok(pb::ListArchivesResponse { archives })
        })
        .await
    }
}
