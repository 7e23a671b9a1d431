//! `tcpplay gen-cert`: decide what to make from the flags, make it, write it,
//! and say how to use it next (text, or `--json` for scripts).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::files::write_all;
use super::GenCertPlan;
use super::{generate, parse_san, san_warning, Ca, CertRequest, Generated};
use crate::config::usage;

/// A CA is trusted once by clients, so it lives long (as mkcert's does).
const CA_DAYS: i64 = 3650;

/// `p` inside `dir` unless `p` is absolute; shown without a leading `./`.
fn place(dir: &Option<PathBuf>, p: PathBuf) -> PathBuf {
    match dir {
        Some(d) if p.is_relative() => d.join(p),
        _ => p,
    }
}

/// This machine's host name and non-loopback addresses (`--lan`).
fn lan_names() -> Vec<String> {
    let mut out = Vec::new();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    if !host.is_empty() && host != "localhost" && parse_san(&host).is_ok() {
        out.push(host);
    }
    for ip in crate::lan::addresses() {
        if !out.contains(&ip.to_string()) {
            out.push(ip.to_string());
        }
    }
    out
}

struct Written {
    path: PathBuf,
    what: &'static str,
    sha256: Option<String>,
}

pub fn run(args: &GenCertPlan) -> Result<u8> {
    check_args(args)?;
    let mut sans = args.sans.clone();
    if args.lan {
        sans.extend(lan_names());
    }
    let req = CertRequest {
        sans,
        days: args.days,
        key_type: args.key_type,
        not_before: None,
    };
    let dir = &args.out_dir;
    let ca_cert = args
        .ca_cert
        .clone()
        .unwrap_or_else(|| place(dir, "ca.pem".into()));
    let ca_key = args
        .ca_key
        .clone()
        .unwrap_or_else(|| place(dir, "ca-key.pem".into()));
    let use_ca = args.ca || args.client.is_some() || args.ca_cert.is_some();

    let mut files: Vec<(PathBuf, String, bool)> = Vec::new();
    let mut written: Vec<Written> = Vec::new();
    let ca = if use_ca {
        Some(load_or_create_ca(
            args,
            &ca_cert,
            &ca_key,
            &req,
            &mut files,
            &mut written,
        )?)
    } else {
        None
    };
    let (leaf, cert_path, key_path, kind) = issue(args, ca.as_ref(), &req)?;
    files.push((cert_path.clone(), leaf.cert_pem.clone(), false));
    files.push((key_path.clone(), leaf.key_pem.clone(), true));
    let refs: Vec<(PathBuf, &str, bool)> = files
        .iter()
        .map(|(p, c, k)| (p.clone(), c.as_str(), *k))
        .collect();
    write_all(&refs, args.force).map_err(|e| {
        if e.to_string().contains("--force") {
            usage(e.to_string())
        } else {
            e
        }
    })?;
    written.push(Written {
        path: cert_path.clone(),
        what: kind,
        sha256: Some(crate::tls::fingerprint(&leaf.cert_der)),
    });
    written.push(Written {
        path: key_path.clone(),
        what: "private key, owner-only",
        sha256: None,
    });
    report(
        args,
        &leaf,
        &written,
        &cert_path,
        &key_path,
        ca.as_ref().map(|_| ca_cert.as_path()),
    );
    Ok(0)
}

/// What the flags ask for, checked before anything is written.
fn check_args(args: &GenCertPlan) -> Result<()> {
    if args.days <= 0 {
        return Err(usage(format!(
            "--days {} must be a positive number of days",
            args.days
        )));
    }
    for s in &args.sans {
        parse_san(s).map_err(|e| usage(e.to_string()))?;
        if let Some(w) = san_warning(s) {
            eprintln!("warning: {w}");
        }
    }
    if args.days > 825 {
        eprintln!("warning: --days {} is over 825, the longest validity browsers and Apple platforms accept", args.days);
    }
    if let Some(d) = &args.out_dir {
        if !d.is_dir() {
            return Err(usage(format!(
                "--out-dir {} is not a directory: create it first",
                d.display()
            )));
        }
    }
    Ok(())
}

/// The certificate asked for: a client certificate from the local CA, a
/// server certificate from it, or a self-signed one; with where it goes.
fn issue(
    args: &GenCertPlan,
    ca: Option<&Ca>,
    req: &CertRequest,
) -> Result<(Generated, PathBuf, PathBuf, &'static str)> {
    let dir = &args.out_dir;
    Ok(match (&args.client, ca) {
        (Some(name), Some(ca)) => {
            let name = crate::names::validate_name(name)
                .map_err(|e| usage(format!("--client '{name}': {e}")))?;
            let file = name.replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                "_",
            );
            let cert = place(
                dir,
                args.cert_file
                    .clone()
                    .unwrap_or_else(|| format!("client-{file}.pem").into()),
            );
            let key = place(
                dir,
                args.key_file
                    .clone()
                    .unwrap_or_else(|| format!("client-{file}-key.pem").into()),
            );
            (
                ca.issue_client(&name, req)
                    .map_err(|e| usage(e.to_string()))?,
                cert,
                key,
                "client certificate",
            )
        }
        (None, Some(ca)) => {
            let g = ca.issue_server(req).map_err(|e| usage(e.to_string()))?;
            (
                g,
                cert_path(args),
                key_path(args),
                "certificate, issued by the local CA",
            )
        }
        _ => (
            generate(req)?,
            cert_path(args),
            key_path(args),
            "certificate, self-signed",
        ),
    })
}

fn cert_path(args: &GenCertPlan) -> PathBuf {
    place(
        &args.out_dir,
        args.cert_file.clone().unwrap_or_else(|| "cert.pem".into()),
    )
}

fn key_path(args: &GenCertPlan) -> PathBuf {
    place(
        &args.out_dir,
        args.key_file.clone().unwrap_or_else(|| "key.pem".into()),
    )
}

fn load_or_create_ca(
    args: &GenCertPlan,
    cert: &Path,
    key: &Path,
    req: &CertRequest,
    files: &mut Vec<(PathBuf, String, bool)>,
    written: &mut Vec<Written>,
) -> Result<Ca> {
    if cert.exists() || key.exists() {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| usage(format!("cannot read the CA file {}: {e}", p.display())))
        };
        let (c, k) = (read(cert)?, read(key)?);
        crate::secret::warn_if_readable_by_others(key);
        return Ca::load(&c, &k)
            .map_err(|e| usage(format!("CA {} / {}: {e:#}", cert.display(), key.display())));
    }
    if args.ca_cert.is_some() {
        return Err(usage(format!(
            "--ca-cert {} does not exist",
            cert.display()
        )));
    }
    if !args.ca {
        return Err(usage(format!(
            "a client certificate is issued by a local CA, and there is none at {}: create one with `tcpplay gen-cert --ca`",
            cert.display()
        )));
    }
    let ca = Ca::generate(&CertRequest {
        days: CA_DAYS,
        ..req.clone()
    })?;
    files.push((cert.to_path_buf(), ca.cert_pem.clone(), false));
    files.push((key.to_path_buf(), ca.key_pem.clone(), true));
    written.push(Written {
        path: cert.to_path_buf(),
        what: "local CA: the one file clients trust",
        sha256: Some(crate::tls::fingerprint(&ca.cert_der)),
    });
    written.push(Written {
        path: key.to_path_buf(),
        what: "CA private key, owner-only: keep it safe",
        sha256: None,
    });
    Ok(ca)
}

fn report(
    args: &GenCertPlan,
    leaf: &Generated,
    written: &[Written],
    cert: &Path,
    key: &Path,
    ca: Option<&Path>,
) {
    let not_after = leaf
        .not_after
        .replace_nanosecond(0)
        .unwrap_or(leaf.not_after);
    let expires = not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let expires_shown = not_after
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let trust = ca.unwrap_or(cert).display().to_string();
    // Other machines reach a --lan certificate by a LAN address (the first
    // one the certificate names); else this machine joins by name.
    let lan_ip = crate::lan::addresses()
        .into_iter()
        .find(|ip| args.lan && leaf.names.contains(&ip.to_string()));
    let host = match lan_ip {
        Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
        Some(v4) => v4.to_string(),
        None => "localhost".into(),
    };
    let (serve, join) = match &args.client {
        Some(_) => (
            format!("tcpplay serve --tls --cert cert.pem --key key.pem --client-ca {trust}"),
            format!(
                "tcpplay join {host} --cert {trust} --client-cert {} --client-key {}",
                cert.display(),
                key.display()
            ),
        ),
        None => (
            format!(
                "tcpplay serve --tls --cert {} --key {}",
                cert.display(),
                key.display()
            ),
            format!("tcpplay join {host} --cert {trust}"),
        ),
    };
    if args.json {
        let files: Vec<_> = written
            .iter()
            .map(|w| serde_json::json!({"path": w.path, "what": w.what, "sha256": w.sha256}))
            .collect();
        let v = serde_json::json!({"files": files, "names": leaf.names, "expires": expires,
            "serve": serve, "join": join});
        println!("{v}");
        return;
    }
    for w in written {
        match &w.sha256 {
            Some(fp) => println!("wrote {} ({}; SHA-256 {fp})", w.path.display(), w.what),
            None => println!("wrote {} ({})", w.path.display(), w.what),
        }
    }
    let label = if args.client.is_some() {
        "client name"
    } else {
        "valid for"
    };
    println!("{label}: {}", leaf.names.join(", "));
    println!("expires: {expires_shown}");
    println!();
    println!("serve:  {serve}");
    println!("join:   {join}");
}
