//! The host's upgrade holds on the local API: listed, and released by an operator.

use std::path::Path;

use babel_api::pb::blockvisor::v1 as pb;

use super::error::ApiError;
use crate::autoupgrade::holds::Holds;

fn to_pb(holds: Holds) -> pb::UpgradeHolds {
    pb::UpgradeHolds {
        holds: holds
            .holds
            .into_iter()
            .map(|h| pb::UpgradeHold {
                protocol: h.protocol,
                variant: h.variant,
                version: h.version,
                at: h.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                reason: h.reason,
            })
            .collect(),
    }
}

pub fn list(root: &Path) -> Result<pb::UpgradeHolds, ApiError> {
    Ok(to_pb(Holds::load(root).map_err(ApiError::Holds)?))
}

/// Releases one hold; the holds left.
pub fn release(
    root: &Path,
    req: pb::ReleaseUpgradeHoldRequest,
) -> Result<pb::UpgradeHolds, ApiError> {
    let now = chrono::Utc::now();
    let (released, left) = Holds::update(root, |h| {
        h.release(&req.protocol, &req.variant, &req.version, now)
    })
    .map_err(ApiError::Holds)?;
    if !released {
        return Err(ApiError::NotHeld {
            protocol: req.protocol,
            variant: req.variant,
            version: req.version,
        });
    }
    Ok(to_pb(left))
}
