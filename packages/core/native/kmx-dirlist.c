/*
 * kmx_list_dir: a directory's entries with their lstat attributes in one call, for
 * `kmx passthrough`'s READDIRPLUS. From JavaScript the same takes a readdir and one
 * lstatSync per entry, each a full path walk and a BigInt Stats object; here it is one
 * getdents64 loop and an fstatat per entry relative to the open directory.
 *
 * Records are written back to back, each 8-byte aligned (little-endian, as the host):
 *    0 u64 ino       8 i64 size     16 i64 blocks   24 u64 rdev
 *   32 i64 atime_s  40 i64 mtime_s  48 i64 ctime_s
 *   56 u32 atime_ns 60 u32 mtime_ns 64 u32 ctime_ns
 *   68 u32 mode     72 u32 nlink    76 u32 uid      80 u32 gid   84 u32 blksize
 *   88 u16 name_len 90 u8 has_attr  91 u8 unused    92 name (no NUL)
 * An entry that vanished between the listing and its fstatat has has_attr 0.
 *
 * Returns the number of bytes written, -ERANGE when `out` is too small for the whole
 * listing (call again with more room), or -errno when the directory cannot be read.
 *
 * kmx_lstat and kmx_fstat write one record's attributes (the first 88 bytes) for a path or
 * an open file, and return 0 or -errno: the same answer as Node's BigInt lstatSync, without
 * its Stats object of BigInts, for every LOOKUP and GETATTR.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HEADER 92

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }
static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof v); }

static void put_attr(uint8_t *r, const struct stat *st) {
  put_u64(r + 0, st->st_ino);
  put_u64(r + 8, (uint64_t)st->st_size);
  put_u64(r + 16, (uint64_t)st->st_blocks);
  put_u64(r + 24, st->st_rdev);
  put_u64(r + 32, (uint64_t)st->st_atim.tv_sec);
  put_u64(r + 40, (uint64_t)st->st_mtim.tv_sec);
  put_u64(r + 48, (uint64_t)st->st_ctim.tv_sec);
  put_u32(r + 56, (uint32_t)st->st_atim.tv_nsec);
  put_u32(r + 60, (uint32_t)st->st_mtim.tv_nsec);
  put_u32(r + 64, (uint32_t)st->st_ctim.tv_nsec);
  put_u32(r + 68, st->st_mode);
  put_u32(r + 72, (uint32_t)st->st_nlink);
  put_u32(r + 76, st->st_uid);
  put_u32(r + 80, st->st_gid);
  put_u32(r + 84, (uint32_t)st->st_blksize);
}

int64_t kmx_list_dir(const char *path, uint8_t *out, uint64_t cap) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char chunk[32768] __attribute__((aligned(8)));
  uint64_t used = 0;
  int64_t result = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, chunk, sizeof chunk);
    if (n < 0) { result = -errno; break; }
    if (n == 0) { result = (int64_t)used; break; }
    for (long pos = 0; pos < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(chunk + pos);
      pos += d->d_reclen;
      const char *name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      size_t len = strlen(name);
      uint64_t size = (HEADER + len + 7) & ~(uint64_t)7;
      if (used + size > cap) { result = -ERANGE; break; }
      uint8_t *r = out + used;
      struct stat st;
      int ok = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
      if (ok) put_attr(r, &st); else memset(r, 0, HEADER);
      put_u16(r + 88, (uint16_t)len);
      r[90] = (uint8_t)ok;
      r[91] = 0;
      memcpy(r + HEADER, name, len);
      used += size;
    }
    if (result != 0) break;
  }
  close(fd);
  return result;
}

int kmx_lstat(const char *path, uint8_t *out) {
  struct stat st;
  if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  put_attr(out, &st);
  return 0;
}

int kmx_fstat(int fd, uint8_t *out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  put_attr(out, &st);
  return 0;
}
