// Internal: the per-index reader-writer lock of FlatIndex and HnswIndex. std::shared_mutex on
// glibc prefers readers, so a steady stream of searches could starve an Add forever; here a
// writer first takes the turnstile, which every reader passes through before taking its shared
// lock, so readers arriving after a waiting writer queue behind it.
#ifndef DENSEFB_SRC_INDEX_RW_LOCK_H_
#define DENSEFB_SRC_INDEX_RW_LOCK_H_

#include <mutex>
#include <shared_mutex>

namespace densefb {

class ReaderLock {
 public:
  ReaderLock(std::mutex& turnstile, std::shared_mutex& mutex) : mutex_(mutex) {
    { std::lock_guard<std::mutex> pass(turnstile); }
    mutex_.lock_shared();
  }
  ~ReaderLock() { mutex_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  std::shared_mutex& mutex_;
};

class WriterLock {
 public:
  WriterLock(std::mutex& turnstile, std::shared_mutex& mutex) : turnstile_(turnstile), mutex_(mutex) {
    turnstile_.lock();
    mutex_.lock();
  }
  ~WriterLock() {
    mutex_.unlock();
    turnstile_.unlock();
  }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  std::mutex& turnstile_;
  std::shared_mutex& mutex_;
};

}  // namespace densefb

#endif  // DENSEFB_SRC_INDEX_RW_LOCK_H_
