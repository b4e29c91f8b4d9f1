//! The protocol lists of the machine report: MONPROTL2 (EtherTypes) and MONPROTL3 (IP protocol
//! numbers), and the short protocol names used for the L3 column names (MONPROTMD=1, T2 reads
//! them from its proto.txt; these are the IANA keywords, with `ICMPv6` for 58 as T2 writes it).

/// Short name of an IP protocol number, if it has one.
pub fn l3_name(p: u8) -> Option<&'static str> {
    Some(match p {
        0 => "HOPOPT",
        1 => "ICMP",
        2 => "IGMP",
        3 => "GGP",
        4 => "IPv4",
        5 => "ST",
        6 => "TCP",
        7 => "CBT",
        8 => "EGP",
        9 => "IGP",
        12 => "PUP",
        17 => "UDP",
        20 => "HMP",
        22 => "XNS-IDP",
        27 => "RDP",
        29 => "ISO-TP4",
        33 => "DCCP",
        36 => "XTP",
        41 => "IPv6",
        43 => "IPv6-Route",
        44 => "IPv6-Frag",
        45 => "IDRP",
        46 => "RSVP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        55 => "MOBILE",
        58 => "ICMPv6",
        59 => "IPv6-NoNxt",
        60 => "IPv6-Opts",
        73 => "RSPF",
        80 => "ISO-IP",
        88 => "EIGRP",
        89 => "OSPF",
        94 => "IPIP",
        97 => "ETHERIP",
        98 => "ENCAP",
        103 => "PIM",
        108 => "IPComp",
        112 => "VRRP",
        115 => "L2TP",
        124 => "ISIS",
        132 => "SCTP",
        133 => "FC",
        135 => "Mobility-Header",
        136 => "UDPLite",
        137 => "MPLS-in-IP",
        139 => "HIP",
        140 => "Shim6",
        141 => "WESP",
        142 => "ROHC",
        143 => "Ethernet",
        _ => return None,
    })
}

/// Parses one MONPROTL3 entry: a number, a short name (`TCP`, case-insensitive) or T2's constant
/// name (`L3_TCP`, `L3_ICMP6`).
pub fn parse_l3(s: &str) -> Result<u8, String> {
    let t = s.trim();
    if let Some(n) = parse_num(t) {
        return u8::try_from(n).map_err(|_| format!("MONPROTL3: {t} is not an IP protocol number"));
    }
    let bare = t
        .strip_prefix("L3_")
        .or_else(|| t.strip_prefix("l3_"))
        .unwrap_or(t);
    let alias = match bare.to_ascii_uppercase().as_str() {
        "ICMP6" => Some(58),
        "IPV6ICMP" | "IPV6-ICMP" => Some(58),
        "UDPLITE" => Some(136),
        _ => None,
    };
    if let Some(p) = alias {
        return Ok(p);
    }
    (0..=255u8)
        .find(|&p| l3_name(p).is_some_and(|n| n.eq_ignore_ascii_case(bare)))
        .ok_or_else(|| {
            format!("MONPROTL3: unknown protocol '{t}' (give a number or a name such as TCP)")
        })
}

/// Parses one MONPROTL2 entry: a number (`0x0806`, `2054`) or T2's constant name
/// (`ETHERTYPE_ARP`).
pub fn parse_l2(s: &str) -> Result<u16, String> {
    let t = s.trim();
    if let Some(n) = parse_num(t) {
        return u16::try_from(n).map_err(|_| format!("MONPROTL2: {t} is not an EtherType"));
    }
    let bare = t
        .to_ascii_uppercase()
        .trim_start_matches("ETHERTYPE_")
        .to_string();
    Ok(match bare.as_str() {
        "IP" | "IPV4" => 0x0800,
        "ARP" => 0x0806,
        "RARP" => 0x8035,
        "IPV6" => 0x86dd,
        "VLAN" => 0x8100,
        "QINQ" => 0x88a8,
        "MPLS" | "MPLS_UCAST" => 0x8847,
        "MPLS_MCAST" => 0x8848,
        "PPPOE_DISC" => 0x8863,
        "PPPOE_SESS" | "PPPOE" => 0x8864,
        "LLDP" => 0x88cc,
        "EAPOL" => 0x888e,
        "LOOP" => 0x9000,
        _ => {
            return Err(format!(
                "MONPROTL2: unknown EtherType '{t}' (give a number such as 0x0806)"
            ))
        }
    })
}

fn parse_num(t: &str) -> Option<u64> {
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        t.parse().ok()
    }
}

/// Splits a comma list, ignoring empty entries (`MONPROTL2=` selects nothing).
pub fn list<T>(s: &str, f: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(f)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_l3("TCP").unwrap(), 6);
        assert_eq!(parse_l3("L3_ICMP6").unwrap(), 58);
        assert_eq!(parse_l3("icmpv6").unwrap(), 58);
        assert_eq!(parse_l3("132").unwrap(), 132);
        assert!(parse_l3("NOPE").is_err());
        assert_eq!(parse_l2("ETHERTYPE_ARP").unwrap(), 0x0806);
        assert_eq!(parse_l2("0x8035").unwrap(), 0x8035);
        assert_eq!(
            list("0x0806, ,0x8035", parse_l2).unwrap(),
            vec![0x0806, 0x8035]
        );
        assert!(list("", parse_l2).unwrap().is_empty());
        assert_eq!(l3_name(58), Some("ICMPv6"));
    }
}
