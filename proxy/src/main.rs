//! `mps3-proxy serve <config.toml>`: runs the proxy (README, "Public
//! apps"). `mps3-proxy compact <config.toml> [--once] [--verbose]`: runs
//! the compactor (checkpoints and collection) for the same bucket.
//! Secrets come from the environment: the session keys (serve) and the
//! keys to the bucket (both).

use std::sync::Arc;

use mps3_proxy::compact::Compactor;
use mps3_proxy::config::Config;
use mps3_proxy::server::{router, App, Secrets};

fn usage() -> ! {
    eprintln!("usage: mps3-proxy serve <config.toml>\n       mps3-proxy compact <config.toml> [--once] [--verbose]");
    std::process::exit(2)
}

fn fail(message: String) -> ! {
    eprintln!("mps3-proxy: {message}");
    std::process::exit(1)
}

fn load(path: &str) -> Config {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("cannot read {path}: {e}")));
    Config::parse(&text).unwrap_or_else(|e| fail(format!("{path}: {e}")))
}

/// `compact`: a round every `[compactor] every_seconds`, or one.
fn compact(path: &str, once: bool, verbose: bool) {
    let config = load(path);
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| fail(format!("set {name} in the environment")))
    };
    let key_id = var(&config.upstream.access_key_id_env);
    let secret = var(&config.upstream.secret_access_key_env);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e.to_string()));
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let compactor =
            Compactor::new(&config, key_id, secret, verbose).unwrap_or_else(|e| fail(e));
        loop {
            match compactor.run_once().await {
                Ok(done) => eprintln!(
                    "mps3-proxy compact: {} manifest(s) read and checkpointed where due",
                    done.len()
                ),
                Err(e) => eprintln!("mps3-proxy compact: {e}"),
            }
            if once {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(
                config.compactor.every_seconds.max(1),
            ))
            .await;
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") if args.len() == 3 => serve(&args[2]),
        Some("compact") if args.len() >= 3 => {
            let flags = &args[3..];
            if flags.iter().any(|f| f != "--once" && f != "--verbose") {
                usage();
            }
            compact(
                &args[2],
                flags.iter().any(|f| f == "--once"),
                flags.iter().any(|f| f == "--verbose"),
            )
        }
        _ => usage(),
    }
}

#[tokio::main]
async fn serve(path: &str) {
    let config = load(path);
    let secrets = Secrets::from_env(&config).unwrap_or_else(|e| {
        eprintln!("mps3-proxy: {e}");
        std::process::exit(1)
    });
    let app = App::new(&config, secrets).unwrap_or_else(|e| {
        eprintln!("mps3-proxy: {e}");
        std::process::exit(1)
    });
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("mps3-proxy: cannot listen on {}: {e}", config.listen);
            std::process::exit(1)
        });
    if config.dev_idp.enabled {
        eprintln!("mps3-proxy: the dev identity provider is ON: anyone may sign in as anyone (local runs only)");
    }
    eprintln!(
        "mps3-proxy: listening on {} for bucket {}",
        config.public_url(),
        config.upstream.bucket
    );
    let app = router(Arc::new(app), &config);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .unwrap_or_else(|e| eprintln!("mps3-proxy: {e}"));
}
