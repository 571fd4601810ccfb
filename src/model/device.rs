//! Device and dtype selection: CPU everywhere (f32), CUDA / Metal behind cargo features
//! (bf16 by default there, as the released checkpoints are stored).

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device};

use super::error::ModelError;

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
    Metal(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (k, i.parse::<usize>().map_err(|_| bad_device(s))?),
            None => (s, 0),
        };
        match kind {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(index)),
            "metal" => Ok(Self::Metal(index)),
            _ => Err(bad_device(s)),
        }
    }
}

fn bad_device(s: &str) -> ModelError {
    ModelError::input(
        "--device",
        format!("{s:?} is not one of cpu, cuda[:N], metal[:N]"),
    )
}

impl DeviceChoice {
    /// Opens the device, or says which cargo feature the binary lacks.
    pub fn open(self) -> Result<Device, ModelError> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(i) => {
                if !cfg!(feature = "cuda") {
                    return Err(ModelError::input(
                        "--device cuda",
                        "this build has no CUDA support (rebuild with `--features cuda`)",
                    ));
                }
                Ok(Device::new_cuda(i)?)
            }
            Self::Metal(i) => {
                if !cfg!(feature = "metal") {
                    return Err(ModelError::input(
                        "--device metal",
                        "this build has no Metal support (rebuild with `--features metal`)",
                    ));
                }
                Ok(Device::new_metal(i)?)
            }
        }
    }

    /// The dtype to run in when the user does not say: f32 on the CPU (candle's CPU bf16 is
    /// slow), bf16 on GPUs.
    pub fn default_dtype(self) -> DType {
        match self {
            Self::Cpu => DType::F32,
            Self::Cuda(_) | Self::Metal(_) => DType::BF16,
        }
    }
}

/// Parses `f32`, `bf16`, `f16`.
pub fn parse_dtype(s: &str) -> Result<DType, ModelError> {
    match s {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        _ => Err(ModelError::input(
            "--dtype",
            format!("{s:?} is not one of f32, bf16, f16"),
        )),
    }
}

/// An LLM quantization name as the CLI and the studio spell it (`none` = dense).
pub fn parse_llm_quant(s: &str) -> Result<Option<GgmlDType>, ModelError> {
    match s.to_ascii_lowercase().as_str() {
        "none" | "dense" => Ok(None),
        "q8_0" => Ok(Some(GgmlDType::Q8_0)),
        "q4_0" => Ok(Some(GgmlDType::Q4_0)),
        "q4_k" => Ok(Some(GgmlDType::Q4K)),
        _ => Err(ModelError::input(
            "--llm-quant",
            format!("{s:?} is not one of none, q8_0, q4_0, q4_k"),
        )),
    }
}

/// Features compiled into this binary, for `--version`.
pub fn enabled_backends() -> Vec<&'static str> {
    let mut v = vec!["cpu"];
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    if cfg!(feature = "metal") {
        v.push("metal");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_names_bad_ones() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda:1".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(1)
        );
        let err = "tpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(err.contains("--device") && err.contains("tpu"), "{err}");
        assert!(
            parse_dtype("f8")
                .unwrap_err()
                .to_string()
                .contains("--dtype")
        );
    }

    #[test]
    fn cpu_always_opens() {
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
        if !cfg!(feature = "cuda") {
            assert!(
                DeviceChoice::Cuda(0)
                    .open()
                    .unwrap_err()
                    .to_string()
                    .contains("--features cuda")
            );
        }
    }
}
