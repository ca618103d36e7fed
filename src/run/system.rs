//! The system under test as a run sees it: the adapter the registry builds for the
//! spec's system (`workloads::SYSTEMS`), its version, and the user's own image in place
//! of the adapter's recipe.

use std::sync::Arc;

use workloads::system::{Image, NodeSpec, Setup};
use workloads::{System, SystemError};

use crate::spec::TestSpec;

/// The adapter for the spec's system, and the version its nodes run.
pub fn adapter(spec: &TestSpec) -> Result<(Arc<dyn System>, String), SystemError> {
    let setup = Setup {
        fencing: spec.fencing,
        image: spec.image.clone(),
        options: spec.system_options.clone(),
    };
    let system = (spec.system.descriptor().build)(&setup)?;
    let version = match &spec.image {
        Some(custom) => format!("{} in the custom image {custom}", system.name()),
        None => system.version(),
    };
    Ok((system, version))
}

/// A user's own image (`--image`) replaces every node's recipe. The commands stay as the
/// adapter wrote them, so the image must hold the programs where the recipe would put
/// them (raftd at `/usr/local/bin/raftd`).
pub fn use_custom_image(specs: &mut [NodeSpec], custom_image: Option<&str>) {
    let Some(image) = custom_image else { return };
    for spec in specs {
        spec.image = Image::Prebuilt {
            image: image.to_string(),
        };
    }
}
