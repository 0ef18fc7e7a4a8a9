//! The `--max-*` flags: the library's [`Limits`] for one command, raised for
//! genuinely huge input that the user trusts.

use vmstate_core::{Limit, Limits};

/// Flags that raise (or lower) the [`Limits`] every reader enforces. Sizes
/// take a binary suffix: `512K`, `64M`, `4G`, `1T` (or `KiB`, `MiB`, ...).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Limits (for input you trust; defaults are safe for any input)")]
pub struct LimitArgs {
    /// Largest single array or buffer a claim in the input may allocate
    /// [default: 256M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_allocation: Option<u64>,
    /// Memory one section's decoded or loaded state may take [default: 256M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_section_memory: Option<u64>,
    /// Memory all states held at once may take [default: 2G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_stream_memory: Option<u64>,
    /// Elements of one section that take no bytes of input [default: 1M].
    #[arg(long, value_name = "COUNT", value_parser = parse_size)]
    pub max_unpaid_elements: Option<u64>,
    /// Largest vmdesc JSON [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_vmdesc: Option<u64>,
    /// Most sections in a stream [default: 65536].
    #[arg(long, value_name = "COUNT", value_parser = parse_size)]
    pub max_sections: Option<u64>,
    /// Most entries in a RAM block list [default: 65536].
    #[arg(long, value_name = "COUNT", value_parser = parse_size)]
    pub max_ram_blocks: Option<u64>,
}

impl LimitArgs {
    /// The limits: the defaults, with what the flags set.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::DEFAULT;
        for (limit, value) in [
            (Limit::MaxAllocation, self.max_allocation),
            (Limit::SectionMemory, self.max_section_memory),
            (Limit::StreamMemory, self.max_stream_memory),
            (Limit::UnpaidElements, self.max_unpaid_elements),
            (Limit::MaxVmdescLen, self.max_vmdesc),
            (Limit::MaxSections, self.max_sections),
            (Limit::MaxRamBlocks, self.max_ram_blocks),
        ] {
            if let Some(v) = value {
                limits.set(limit, v);
            }
        }
        limits
    }
}

/// `4096`, `64K`, `64KiB`, `1.5G`: a count or a size with a binary suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        "t" | "tib" | "tb" => 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use a number with K, M, G or T"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number with an optional K, M, G or T"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn every_limit_has_the_flag_its_messages_name() {
        for limit in Limit::ALL {
            let probe = Probe::try_parse_from(["probe", limit.flag(), "12345"]);
            let limits = probe.map(|p| p.limits.limits());
            assert_eq!(
                limits.map(|l| l.get(limit)).ok(),
                Some(12345),
                "{}",
                limit.flag()
            );
        }
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2t"), Ok(2 << 40));
        assert!(parse_size("1e30").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("").is_err());
    }
}
