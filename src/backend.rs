//! Which compute device the encoder runs on: Burn's CPU backend or wgpu.
//!
//! The model code is the same on both; only the `Device` it is built on differs.
//! Results come back through [`read_values`], which tells a lost GPU device (the page
//! then moves to the CPU) from other failures.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (`flex`).
    #[default]
    Cpu,
    /// wgpu: Vulkan/Metal/DX12/GL natively, WebGPU in the browser.
    Wgpu,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
        }
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(BackendKind::Cpu),
            "wgpu" | "gpu" => Ok(BackendKind::Wgpu),
            _ => Err(format!("unknown backend `{s}`: use cpu or wgpu")),
        }
    }
}

/// Reading a result back from the device failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceFailure {
    /// The device is gone (a driver reset, the browser took it back, the GPU was removed):
    /// every later operation on it fails too, so the work must move to another device.
    #[error("the GPU device was lost ({0})")]
    Lost(String),
    #[error("the compute device failed: {0}")]
    Failed(String),
}

impl DeviceFailure {
    pub fn is_lost(&self) -> bool {
        matches!(self, DeviceFailure::Lost(_))
    }
}

/// Reads a float tensor's values back from its device.
pub async fn read_values<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Result<Vec<f32>, DeviceFailure> {
    let data = tensor.into_data_async().await.map_err(|e| {
        if e.is_device_poisoned() {
            // The reason's first line; a backtrace follows it.
            DeviceFailure::Lost(e.reason().lines().next().unwrap_or("no reason given").trim().to_string())
        } else {
            DeviceFailure::Failed(one_line(&e.to_string()))
        }
    })?;
    data.try_into_vec::<f32>().map_err(|e| DeviceFailure::Failed(format!("{e:?}")))
}

/// A runtime error's chain of causes on one line, outermost first, without its backtrace
/// or repeated causes: the page shows it in a one-line status.
fn one_line(report: &str) -> String {
    let mut causes: Vec<&str> = Vec::new();
    for line in report.lines().map(str::trim).take_while(|l| !l.starts_with("Backtrace")) {
        if !line.is_empty() && line != "Caused by:" && causes.last() != Some(&line) {
            causes.push(line);
        }
    }
    if causes.is_empty() { "no reason given".into() } else { causes.join(": ") }
}

/// No wgpu adapter could be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "no wgpu adapter is available ({0}); use --backend cpu, or install a Vulkan driver (e.g. Mesa's lavapipe: apt-get install mesa-vulkan-drivers)"
)]
pub struct NoAdapter(String);

/// Opens the device for a backend. wgpu is initialised eagerly so a missing adapter is an
/// error here, not a panic at the first tensor.
/// wgpu's runtime can be set up once per process, so the outcome is remembered.
#[cfg(not(target_family = "wasm"))]
pub fn open_device(kind: BackendKind) -> Result<burn::tensor::Device, NoAdapter> {
    use burn::tensor::Device;
    static WGPU: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
    match kind {
        BackendKind::Cpu => Ok(Device::flex()),
        BackendKind::Wgpu => {
            WGPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string())).clone().map_err(NoAdapter)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_runtime_report_becomes_one_line_of_causes() {
        let report = "An error happened during execution\nCaused by:\n  An error happened during execution\n\
                      Caused by:\n  the staging buffer could not be mapped: map failed\nBacktrace:\nNo backtrace available";
        assert_eq!(
            one_line(report),
            "An error happened during execution: the staging buffer could not be mapped: map failed"
        );
        assert_eq!(one_line("  \nBacktrace:\nframe 1"), "no reason given");
    }
}
