//! `sqlx::migrate!` embeds the migration files at compile time but does not tell cargo to
//! watch the folders, so a new migration would not rebuild this crate (sqlx's documented
//! fix is this build script).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
