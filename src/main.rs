use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    tamandua::allocator::tune();
    std::process::exit(tamandua::app::main());
}
