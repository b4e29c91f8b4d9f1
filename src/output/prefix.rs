//! Output file naming from `-r INPUT` and `-w ARG`, as T2's txtSink does it (spec/txtSink.md 1).

use std::path::Path;

/// The prefix for `PREFIX_flows.txt` & co. and whether flows go to stdout (`-w -`).
pub fn output_prefix(input: &str, w: Option<&str>) -> std::io::Result<(String, bool)> {
    let strip_ext = |s: &str| -> String {
        match s.rfind('.') {
            Some(i) => s[..i].to_string(),
            None => s.to_string(),
        }
    };
    let base_of_input = || -> String {
        if input == "-" {
            return "stdin".to_string();
        }
        let base = input.rsplit('/').next().unwrap_or(input);
        strip_ext(base)
    };
    match w {
        None => Ok((
            if input == "-" {
                "stdin".into()
            } else {
                strip_ext(input)
            },
            false,
        )),
        Some("-") => Ok((
            if input == "-" {
                "stdin".into()
            } else {
                strip_ext(input)
            },
            true,
        )),
        Some(arg) => {
            if let Some(i) = arg.rfind('/') {
                if i > 0 {
                    create_dirs(&arg[..i])?;
                }
            }
            let is_dir = Path::new(arg).is_dir();
            if is_dir || arg.ends_with('/') {
                let mut p = arg.to_string();
                if !p.ends_with('/') {
                    p.push('/');
                }
                p.push_str(&base_of_input());
                Ok((p, false))
            } else {
                Ok((arg.to_string(), false))
            }
        }
    }
}

fn create_dirs(d: &str) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if Path::new(d).is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t2_prefix_rules() {
        let tmp = std::env::temp_dir().join(format!("tamandua-prefix-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let t = tmp.to_str().unwrap();
        assert_eq!(
            output_prefix("/data/x.pcap", None).unwrap(),
            ("/data/x".into(), false)
        );
        assert_eq!(
            output_prefix("d.dir/noext", None).unwrap(),
            ("d".into(), false)
        );
        assert_eq!(output_prefix("-", None).unwrap(), ("stdin".into(), false));
        assert_eq!(
            output_prefix("in.x.pcap", Some("-")).unwrap(),
            ("in.x".into(), true)
        );
        assert_eq!(
            output_prefix("a/in.x.pcap", Some(t)).unwrap().0,
            format!("{t}/in.x")
        );
        let nd = format!("{t}/newdir/");
        assert_eq!(
            output_prefix("in.x.pcap", Some(&nd)).unwrap().0,
            format!("{t}/newdir/in.x")
        );
        assert!(Path::new(&nd).is_dir());
        let deep = format!("{t}/n2/sub/pre");
        assert_eq!(output_prefix("in.x.pcap", Some(&deep)).unwrap().0, deep);
        assert!(Path::new(&format!("{t}/n2/sub")).is_dir());
        assert_eq!(
            output_prefix("x.pcap", Some("plainprefix")).unwrap().0,
            "plainprefix"
        );
        std::fs::remove_dir_all(&tmp).ok();
    }
}
