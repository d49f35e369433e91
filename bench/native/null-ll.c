// The floor for a FUSE request's round trip on this machine: a null filesystem in C on
// libfuse3's low-level API, single-threaded like kmx's engine, nothing cached (timeouts 0).
// Every name in the root exists as an empty file. Usage: null-ll MOUNTPOINT (foreground).
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void fill(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = ino == FUSE_ROOT_ID ? (S_IFDIR | 0755) : (S_IFREG | 0644);
  st->st_nlink = 1;
  st->st_atime = st->st_mtime = st->st_ctime = 1700000000;
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  (void)name;
  if (parent != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct fuse_entry_param entry;
  memset(&entry, 0, sizeof entry);
  entry.ino = 2;
  fill(entry.ino, &entry.attr);
  fuse_reply_entry(req, &entry);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  struct stat st;
  fill(ino, &st);
  fuse_reply_attr(req, &st, 0);
}

static const struct fuse_lowlevel_ops ops = { .lookup = null_lookup, .getattr = null_getattr };

int main(int argc, char *argv[]) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
    return 2;
  }
  char *fsname = "-ofsname=bench-null-c";
  char *fuse_argv[] = { argv[0], fsname, NULL };
  struct fuse_args args = FUSE_ARGS_INIT(2, fuse_argv);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se) return 1;
  int status = 1;
  if (fuse_set_signal_handlers(se) == 0) {
    if (fuse_session_mount(se, argv[1]) == 0) {
      status = fuse_session_loop(se) == 0 ? 0 : 1;
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  return status;
}
