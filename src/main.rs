fn main() {
    println!("tributary {}", env!("CARGO_PKG_VERSION"));
}
