// glibc's allocator took a fifth of the CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    if let Err(err) = usergraph::cli::run().await {
        usergraph::cli::report_fatal(&err);
        std::process::exit(1);
    }
}
