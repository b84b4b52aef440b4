// libticketq-malloc-count.so: counts a process's heap allocations, for the
// benchmarks. A MEASURING TOOL, loaded with LD_PRELOAD; never linked in.
//
//   export TICKETQ_MALLOC_COUNT=/tmp/count
//   LD_PRELOAD=build/bench/libticketq-malloc-count.so build/ticketq-server ...
//   od -An -tu8 -N8 /tmp/count      # allocations so far, read at any time
//
// Every malloc, calloc, realloc (of a new block or to a new size),
// posix_memalign, aligned_alloc, memalign, valloc and pvalloc adds one to a
// 64-bit counter (C++'s operator new calls malloc, so it is counted too).
// The counter lives in the file named by TICKETQ_MALLOC_COUNT, created (8
// bytes) and mapped shared at load, so another process reads it with no
// signal and no cooperation: bench/run.sh reads it before and after a run
// and divides by the requests answered. Without the variable, or if the file
// cannot be mapped, it counts into a private word and the process runs as
// usual. The calls go on to glibc's own (__libc_malloc and friends), so the
// allocator is glibc's; the cost is one atomic add per call.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" {

void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* __libc_valloc(size_t);
void* __libc_pvalloc(size_t);

static uint64_t private_count;
static uint64_t* count = &private_count;

static void add() {
  __atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void map_counter() {
  const char* path = getenv("TICKETQ_MALLOC_COUNT");
  if (path == nullptr || *path == '\0') return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (ftruncate(fd, sizeof(uint64_t)) == 0) {
    void* p = mmap(nullptr, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      *static_cast<uint64_t*>(p) = private_count;
      count = static_cast<uint64_t*>(p);
    }
  }
  close(fd);
}

void* malloc(size_t n) {
  add();
  return __libc_malloc(n);
}

void* calloc(size_t k, size_t n) {
  add();
  return __libc_calloc(k, n);
}

void* realloc(void* p, size_t n) {
  if (n != 0) add();
  return __libc_realloc(p, n);
}

void* memalign(size_t align, size_t n) {
  add();
  return __libc_memalign(align, n);
}

void* aligned_alloc(size_t align, size_t n) {
  add();
  return __libc_memalign(align, n);
}

int posix_memalign(void** out, size_t align, size_t n) {
  if (align % sizeof(void*) != 0 || (align & (align - 1)) != 0) return EINVAL;
  add();
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(size_t n) {
  add();
  return __libc_valloc(n);
}

void* pvalloc(size_t n) {
  add();
  return __libc_pvalloc(n);
}

}  // extern "C"
