//! Fixes the number of threads candle gives each matrix product once, at start-up.
//!
//! candle 0.11 asks `utils::get_num_threads()` on every CPU matrix product. Unless
//! `RAYON_NUM_THREADS` is set, that call counts the machine's physical cores afresh, and on
//! Linux `num_cpus` does so by reading and parsing `/proc/cpuinfo`: about 90 µs of kernel work
//! per product here. One `generate` of the built-in model opened `/proc/cpuinfo` 2,510 times,
//! and the VAE phase of `train-tiny` about 2,700 times a second (`strace`). Counting once and
//! writing the answer into `RAYON_NUM_THREADS` gives every later product the same count for
//! the price of reading an environment variable: the VAE phase went from 0.50 to 0.35 s/step
//! and `generate` from about 1.2 to 0.9 s on this 2-core machine, with the same bytes out
//! (the count is unchanged, so candle splits each product the same way).

/// Sets `RAYON_NUM_THREADS` to the count candle would compute, unless the user set it.
///
/// Must run first thing in `main`: setting the environment is only sound while no other
/// thread of the program exists. The value also sizes rayon's global pool when it is first
/// built; candle's own count (physical cores) is what its products use either way.
pub fn settle() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let count = candle_core::utils::get_num_threads();
    // SAFETY: called at the top of `main`, before any thread of this program is started
    // (clap, the studio and candle's pools all come later), so nothing reads the environment
    // concurrently.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", count.to_string()) };
}
