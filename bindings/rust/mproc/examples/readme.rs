//! The ten-line example of the README's Rust section (kept identical;
//! tests/examples.rs runs it).
use mproc::{Pool, Process, Queue};

fn main() -> mproc::Result<()> {
    mproc::main()?; // first thing: spawned children run their target here
    let q = Queue::new(3)?;
    let child = Process::new(|| q.put(b"hi from the child"))?; // a closure, forked
    child.start()?;
    println!("{}", String::from_utf8_lossy(&q.get()?));
    child.join()?;
    let pool = Pool::new(4)?;
    let double = pool.task(|x: &[u8]| Ok(x.iter().map(|b| b * 2).collect()))?;
    println!("{:?}", pool.map(&double, [[1u8], [2], [3]])?); // [[2], [4], [6]]
    Ok(())
}
