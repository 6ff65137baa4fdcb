//! IPVS scheduler and scheduler flags (`kube-router.io/service.scheduler`,
//! `kube-router.io/service.schedflags`).

use std::fmt;
use std::str::FromStr;

use super::values::comma_items;

/// An IPVS scheduler, by its kernel name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Scheduler {
    /// Round robin (kube-router's default).
    #[default]
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection.
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Maglev hashing.
    Mh,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Power of two choices.
    Twos,
}

const NAMES: &[(Scheduler, &str)] = &[
    (Scheduler::Rr, "rr"),
    (Scheduler::Wrr, "wrr"),
    (Scheduler::Lc, "lc"),
    (Scheduler::Wlc, "wlc"),
    (Scheduler::Lblc, "lblc"),
    (Scheduler::Lblcr, "lblcr"),
    (Scheduler::Dh, "dh"),
    (Scheduler::Sh, "sh"),
    (Scheduler::Sed, "sed"),
    (Scheduler::Nq, "nq"),
    (Scheduler::Mh, "mh"),
    (Scheduler::Fo, "fo"),
    (Scheduler::Ovf, "ovf"),
    (Scheduler::Twos, "twos"),
];

impl Scheduler {
    /// The kernel's name of the scheduler (`ip_vs_<name>` module).
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .unwrap_or("rr")
    }

    /// Every scheduler, in declaration order.
    pub fn all() -> impl Iterator<Item = Scheduler> {
        NAMES.iter().map(|(s, _)| *s)
    }
}

impl FromStr for Scheduler {
    type Err = String;

    fn from_str(s: &str) -> Result<Scheduler, String> {
        let s = s.trim();
        NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(sched, _)| *sched)
            .ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
                format!("unknown IPVS scheduler (one of {})", names.join(", "))
            })
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// IPVS scheduler flags. Their meaning depends on the scheduler: for `sh`
/// and `mh`, flag-1 is fallback and flag-2 is port (ipvsadm's names
/// `sh-fallback`/`mh-fallback` and `sh-port`/`mh-port` are accepted too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SchedFlags {
    pub flag1: bool,
    pub flag2: bool,
    pub flag3: bool,
}

impl FromStr for SchedFlags {
    type Err = String;

    fn from_str(s: &str) -> Result<SchedFlags, String> {
        let mut flags = SchedFlags::default();
        for item in comma_items(s) {
            match item.to_ascii_lowercase().as_str() {
                "flag-1" | "sh-fallback" | "mh-fallback" => flags.flag1 = true,
                "flag-2" | "sh-port" | "mh-port" => flags.flag2 = true,
                "flag-3" => flags.flag3 = true,
                _ => {
                    return Err(format!(
                        "unknown scheduler flag {item:?} (flag-1, flag-2, flag-3)"
                    ));
                }
            }
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheduler_round_trips() {
        assert_eq!(Scheduler::all().count(), 14);
        for s in Scheduler::all() {
            assert_eq!(s.as_str().parse::<Scheduler>(), Ok(s));
            assert_eq!(s.to_string().to_uppercase().parse::<Scheduler>(), Ok(s));
        }
        assert!("round-robin".parse::<Scheduler>().is_err());
        assert!("".parse::<Scheduler>().is_err());
    }

    #[test]
    fn flags() {
        let f = |s: &str| s.parse::<SchedFlags>();
        assert_eq!(
            f("flag-1"),
            Ok(SchedFlags {
                flag1: true,
                flag2: false,
                flag3: false
            })
        );
        assert_eq!(
            f("flag-1, flag-2"),
            Ok(SchedFlags {
                flag1: true,
                flag2: true,
                flag3: false
            })
        );
        assert_eq!(
            f("flag-3"),
            Ok(SchedFlags {
                flag1: false,
                flag2: false,
                flag3: true
            })
        );
        assert_eq!(
            f("mh-port,sh-fallback"),
            Ok(SchedFlags {
                flag1: true,
                flag2: true,
                flag3: false
            })
        );
        assert_eq!(f(""), Ok(SchedFlags::default()));
        assert!(f("flag-4").unwrap_err().contains("flag-4"));
    }
}
