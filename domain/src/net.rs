//! IPv4 networks (CIDR) and the checks cluster networking needs.
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// An IPv4 address with a prefix length, e.g. `10.77.0.11/24` (an interface address) or
/// `10.200.0.0/16` (a network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` (n in 0..=32). The address may have host bits set.
    pub fn parse(value: &str) -> Result<Cidr, String> {
        let v = value.trim();
        let (addr, prefix) = v
            .split_once('/')
            .ok_or_else(|| format!("\"{v}\" needs a prefix length, e.g. {v}/24"))?;
        let addr: Ipv4Addr = addr
            .trim()
            .parse()
            .map_err(|_| format!("\"{}\" is not an IPv4 address", addr.trim()))?;
        let prefix: u8 = prefix
            .trim()
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("\"{}\" is not a prefix length from 0 to 32", prefix.trim()))?;
        Ok(Cidr { addr, prefix })
    }

    /// Parses a network: host bits must be zero.
    pub fn parse_network(value: &str) -> Result<Cidr, String> {
        let c = Cidr::parse(value)?;
        if c.network() != c.addr {
            return Err(format!(
                "use the network address {}/{} for \"{}\"",
                c.network(),
                c.prefix,
                value.trim()
            ));
        }
        Ok(c)
    }

    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// True when the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let m = Cidr {
            addr: self.addr,
            prefix: shorter,
        }
        .mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The same network with host bits cleared.
    pub fn as_network(&self) -> Cidr {
        Cidr {
            addr: self.network(),
            prefix: self.prefix,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

pub fn parse_ipv4(value: &str) -> Result<Ipv4Addr, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("\"{}\" is not an IPv4 address", value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).expect("valid")
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(c("10.77.0.11/24").to_string(), "10.77.0.11/24");
        assert_eq!(c(" 10.0.0.0/8 ").network(), Ipv4Addr::new(10, 0, 0, 0));
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("fe80::1/64").is_err());
        assert_eq!(c("0.0.0.0/0").mask(), 0);
    }

    #[test]
    fn networks_need_clear_host_bits() {
        assert!(Cidr::parse_network("10.200.0.0/16").is_ok());
        let err = Cidr::parse_network("10.200.1.0/16").expect_err("host bits");
        assert!(err.contains("10.200.0.0/16"), "{err}");
    }

    #[test]
    fn containment_and_overlap() {
        assert!(c("10.77.0.0/24").contains(Ipv4Addr::new(10, 77, 0, 100)));
        assert!(!c("10.77.0.0/24").contains(Ipv4Addr::new(10, 77, 1, 1)));
        assert!(c("10.0.0.0/8").overlaps(&c("10.77.0.11/24")));
        assert!(c("10.77.0.11/24").overlaps(&c("10.0.0.0/8")));
        assert!(!c("10.200.0.0/16").overlaps(&c("10.77.0.0/24")));
        assert!(c("10.200.0.0/16").overlaps(&c("10.200.255.0/24")));
        assert!(!c("10.200.0.0/16").overlaps(&c("10.201.0.0/16")));
    }
}
