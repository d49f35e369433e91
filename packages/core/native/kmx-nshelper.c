/*
 * kmx-nshelper: the namespace steps that a multithreaded Node process cannot take itself
 * (setns(CLONE_NEWNS) needs an unshared fs_struct; unshare moves only the calling thread).
 * kmx spawns it per request with a fixed argv, no shell, and passes fds as extra stdio:
 *
 *   kmx-nshelper attach PATH           fd 3: pidfd or nsfs fd of a mount ns, fd 4: a detached mount
 *   kmx-nshelper unmount PATH [--lazy] fd 3: as above
 *   kmx-nshelper mountinfo             fd 3: as above; prints that namespace's mountinfo
 *   kmx-nshelper hold                  fd 3: as above; stays in that namespace until stdin closes
 *   kmx-nshelper run REPORT_FD [--proc DIR] [--bind SRC DST | --bind-ro SRC DST]... -- CMD [ARG]...
 *
 * kmxd's steps, each against a directory it pinned as an fd (fd 4) and re-checked by st_dev/st_ino
 * inside the caller's namespace and root (fd 3, a pidfd), so no path is resolved twice to
 * different places:
 *
 *   kmx-nshelper mount-pinned PATH FSTYPE SOURCE ATTRS [KEY=VALUE | KEY | KEY<]...
 *                                      fd 4: the pinned mount dir; prints the new mount's id;
 *                                      KEY< takes KEY's value from stdin (a password: never argv)
 *   kmx-nshelper unmount-pinned PATH MOUNT_ID [--lazy]
 *                                      fd 4: the pinned parent of PATH; refuses another mount id
 *   kmx-nshelper symlink-as-user UID GID HOME RELPATH TARGET
 *   kmx-nshelper unlink-as-user UID GID HOME RELPATH TARGET...
 *                                      as the user: RELPATH beneath HOME (owned by UID), no symlink
 *                                      followed; unlink only a link that points at one of TARGET...
 *
 * A failure is one line, "kmx-nshelper: STEP: ERRNO[: PATH]", on stderr (for run: on
 * REPORT_FD, which exec closes, because the command owns stdio), and exit status 125
 * (126/127 when exec fails, as in env(1)). It reads no environment variable itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TARGET_FD 3
#define MOUNT_FD 4
#define EXIT_FAILED 125
#define MAX_BINDS 64
#define PINNED_FD 4
#define MAX_OPTIONS 32
#ifndef AT_STATX_DONT_SYNC
#define AT_STATX_DONT_SYNC 0x4000
#endif

static int report_fd = STDERR_FILENO;

static void fail_with(int status, const char *step, int err, const char *path)
{
	if (path)
		dprintf(report_fd, "kmx-nshelper: %s: %d: %s\n", step, err, path);
	else
		dprintf(report_fd, "kmx-nshelper: %s: %d\n", step, err);
	_exit(status);
}

static void fail(const char *step, int err, const char *path)
{
	fail_with(EXIT_FAILED, step, err, path);
}

/* Opens PATH as an O_PATH fd without following a symlink in its last component. */
static int open_no_follow(const char *path)
{
	struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS };
	struct stat st;
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);

	if (fd < 0)
		fail("openat2", errno, path);
	if (fstat(fd, &st) < 0)
		fail("fstat", errno, path);
	if (S_ISLNK(st.st_mode)) /* O_PATH|O_NOFOLLOW opened the link itself */
		fail("openat2", ELOOP, path);
	return fd;
}

/* The pid a pidfd stands for (its fdinfo "Pid:" line), or -1 when FD is no pidfd. */
static pid_t pid_of_pidfd(int fd)
{
	char path[64], line[256];
	long pid = -1;
	FILE *info;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	info = fopen(path, "re");
	if (!info)
		return -1;
	while (fgets(line, sizeof line, info))
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(info);
	return (pid_t)pid;
}

/*
 * Joins the mount namespace of FD: an nsfs file, or a pidfd (kernel >= 5.8). Older kernels
 * refuse a pidfd with EINVAL; then go through /proc/PID/ns/mnt and check afterwards that the
 * pidfd's process is still alive, which proves the pid was not reused in between.
 */
static void enter_mount_namespace(int fd)
{
	char path[64];
	pid_t pid;
	int nsfd;

	if (setns(fd, CLONE_NEWNS) == 0)
		return;
	if (errno != EINVAL || (pid = pid_of_pidfd(fd)) <= 0)
		fail("setns", errno, NULL);
	snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		fail("open", errno, path);
	if (pidfd_send_signal(fd, 0, NULL, 0) < 0)
		fail("pidfd_send_signal", errno, NULL);
	if (setns(nsfd, CLONE_NEWNS) < 0)
		fail("setns", errno, NULL);
	close(nsfd);
}

static int attach(const char *path)
{
	int target;

	enter_mount_namespace(TARGET_FD);
	target = open_no_follow(path);
	if (move_mount(MOUNT_FD, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail("move_mount", errno, path);
	return 0;
}

/* As fusermount does: from inside the parent, so the last component is never a followed symlink. */
static int unmount(char *path, int lazy)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS };
	char *slash = strrchr(path, '/');
	const char *name = slash + 1;
	int parent;

	if (strcmp(name, "") == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		fail("unmount", EINVAL, path);
	enter_mount_namespace(TARGET_FD);
	*slash = '\0';
	parent = (int)syscall(SYS_openat2, AT_FDCWD, slash == path ? "/" : path, &how, sizeof how);
	*slash = '/';
	if (parent < 0)
		fail("openat2", errno, path);
	if (fchdir(parent) < 0)
		fail("fchdir", errno, path);
	if (umount2(name, UMOUNT_NOFOLLOW | (lazy ? MNT_DETACH : 0)) < 0)
		fail("umount2", errno, path);
	return 0;
}

static void write_all(int fd, const char *buf, ssize_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, (size_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("write", errno, NULL);
		buf += n;
		len -= n;
	}
}

static int print_mountinfo(void)
{
	/* Opened before setns: the namespace may have no /proc of its own. mountinfo shows the
	 * namespace of the task that opens it, so "thread-self" is resolved after setns. */
	int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC), info;
	char buf[65536];
	ssize_t n;

	if (proc < 0)
		fail("open", errno, "/proc");
	enter_mount_namespace(TARGET_FD);
	info = openat(proc, "thread-self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (info < 0)
		fail("open", errno, "/proc/thread-self/mountinfo");
	while ((n = read(info, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("read", errno, "/proc/thread-self/mountinfo");
		write_all(STDOUT_FILENO, buf, n);
	}
	return 0;
}

/*
 * Enters the namespace, says "ready" and waits for stdin to close: meanwhile the caller reaches
 * paths in that namespace through /proc/PID/root (an nsfs bind mount in a namespace that has no
 * process, say), without ever entering it itself.
 */
static int hold(void)
{
	char byte;
	ssize_t n;

	enter_mount_namespace(TARGET_FD); /* setns also moved our root and cwd to the namespace's root */
	close(TARGET_FD);
	write_all(STDOUT_FILENO, "ready\n", 6);
	while ((n = read(STDIN_FILENO, &byte, 1)) != 0)
		if (n < 0 && errno != EINTR)
			break;
	return 0;
}

/* mkdir -p, mode 0755: the directories land on the real filesystem; only the mounts are private. */
static void make_directories(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char end = *p;

		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail("mkdir", errno, path);
		*p = end;
		if (end == '\0')
			return;
	}
}

/* A recursive bind with nosuid,nodev (and ro) set on the copy before anyone can see it. */
static void bind_tree(const char *source, const char *target, int read_only)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0) };
	int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE), to;

	if (tree < 0)
		fail("open_tree", errno, source);
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
		fail("mount_setattr", errno, source);
	to = open_no_follow(target);
	if (move_mount(tree, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail("move_mount", errno, target);
	close(to);
	close(tree);
}

static int run(int argc, char **argv)
{
	struct { const char *source, *target; int read_only; } binds[MAX_BINDS];
	int nbinds = 0, i = 1;
	char *proc = NULL, *end;
	long fd = strtol(argv[0], &end, 10);

	if (*argv[0] == '\0' || *end != '\0' || fd < 3 || fd > 1024 || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
		fail("usage", EBADF, argv[0]);
	report_fd = (int)fd;
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--proc") == 0 && i + 1 < argc && argv[i + 1][0] == '/') {
			proc = argv[++i];
		} else if ((strcmp(argv[i], "--bind") == 0 || strcmp(argv[i], "--bind-ro") == 0) && i + 2 < argc && nbinds < MAX_BINDS) {
			binds[nbinds].read_only = strcmp(argv[i], "--bind-ro") == 0;
			binds[nbinds].source = argv[i + 1];
			binds[nbinds++].target = argv[i + 2];
			i += 2;
		} else {
			fail("usage", EINVAL, argv[i]);
		}
	}
	if (i + 1 >= argc)
		fail("usage", EINVAL, "no command");
	if (unshare(CLONE_NEWNS) < 0)
		fail("unshare", errno, NULL);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) /* nothing leaks back out */
		fail("mount", errno, "/");
	if (proc) {
		make_directories(proc);
		if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			fail("mount", errno, proc);
	}
	for (int b = 0; b < nbinds; b++)
		bind_tree(binds[b].source, binds[b].target, binds[b].read_only);
	execvp(argv[i + 1], argv + i + 1);
	fail_with(errno == ENOENT ? 127 : 126, "execvp", errno, argv[i + 1]);
	return 0;
}

/*
 * Enters the caller's view of the filesystem: its mount namespace (fd 3, a pidfd) and its root
 * directory, which setns() alone resets to the namespace's root (a caller in a chroot would
 * otherwise have its paths resolved elsewhere). The root is opened through /proc before the
 * switch; the pidfd still being alive afterwards proves the pid named the same process.
 */
static void enter_caller_view(void)
{
	char path[64];
	pid_t pid = pid_of_pidfd(TARGET_FD);
	int root;

	if (pid <= 0)
		fail("pidfd", EBADF, NULL);
	snprintf(path, sizeof path, "/proc/%d/root", (int)pid);
	root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail("open", errno, path);
	if (pidfd_send_signal(TARGET_FD, 0, NULL, 0) < 0)
		fail("pidfd_send_signal", errno, NULL);
	enter_mount_namespace(TARGET_FD);
	if (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)
		fail("chroot", errno, path);
	close(root);
}

/* openat2 beneath DIRFD (or from the root for an absolute PATH) following no symlink at all. */
static int open_strict(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = { .flags = (unsigned long long)(flags | O_NOFOLLOW | O_CLOEXEC),
				.resolve = resolve | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Fails unless FD and PINNED are the same inode: the caller's view still is the dir kmxd pinned. */
static void same_inode(int fd, int pinned, const char *path)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || fstat(pinned, &b) < 0)
		fail("fstat", errno, path);
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		fail("pinned", EXDEV, path);
}

static unsigned long long mount_id_at(int dirfd, const char *name, int flags, const char *path)
{
	struct statx stx;

	if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) < 0)
		fail("statx", errno, path);
	if (!(stx.stx_mask & STATX_MNT_ID))
		fail("statx", ENOTSUP, path);
	return stx.stx_mnt_id;
}

/* A positive decimal number below LIMIT, or failure. */
static unsigned long long number(const char *text, unsigned long long limit)
{
	char *end;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (*text < '0' || *text > '9' || *end != '\0' || errno || value >= limit)
		fail("usage", EINVAL, text);
	return value;
}

static void fs_fail(int fsfd, const char *step, int err)
{
	char msg[512];
	ssize_t n = read(fsfd, msg, sizeof msg - 1); /* the kernel's reason, "e nfs: ..." */

	if (n > 0) {
		msg[n] = '\0';
		for (char *c = msg; *c; c++)
			if (*c == '\n')
				*c = ' ';
		fail(step, err, msg);
	}
	fail(step, err, NULL);
}

/*
 * Creates the filesystem (option strings as kmxd wrote them, one fsconfig each), mounts it
 * detached with nosuid,nodev plus ATTRS as attributes, and moves it onto the pinned dir as the
 * caller's namespace sees it. The filesystem is created here, not in kmxd, because creating an
 * NFS superblock talks to the server and can block: this process can be killed, kmxd cannot.
 */
/*
 * Refuses a mount namespace that a user namespace other than the initial one owns (unshare -Urm
 * makes one): there the caller holds CAP_SYS_ADMIN, and a mount moved in from outside carries
 * no MNT_LOCK_* flags, so `mount -o remount,bind,suid,dev` would take nosuid,nodev off. Mounts
 * copied into such a namespace later are locked by the kernel. PROC is the host's /proc,
 * opened before setns: thread-self there names the namespace this thread is in now, whatever
 * the caller mounted over its own /proc.
 */
static void require_initial_owner(int proc, const struct stat *initial_user)
{
	struct stat owner;
	int mnt_ns = openat(proc, "thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
	int user_ns;

	if (mnt_ns < 0)
		fail("open", errno, "/proc/thread-self/ns/mnt");
	user_ns = ioctl(mnt_ns, NS_GET_USERNS);
	if (user_ns < 0)
		fail("ioctl", errno, "NS_GET_USERNS");
	if (fstat(user_ns, &owner) < 0)
		fail("fstat", errno, NULL);
	if (owner.st_dev != initial_user->st_dev || owner.st_ino != initial_user->st_ino)
		fail("mount_ns_owner", EPERM, NULL);
	close(user_ns);
	close(mnt_ns);
}

/*
 * The value of a KEY< option: all of stdin (kmxd writes it and closes the pipe), at most
 * 1024 bytes, no NUL. It is a secret (a password): argv is readable by every user in
 * /proc/PID/cmdline, stdin is not.
 */
static char secret[1025];

static const char *read_secret(void)
{
	size_t len = 0;
	ssize_t n;

	while ((n = read(STDIN_FILENO, secret + len, sizeof(secret) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("read", errno, "stdin");
		len += (size_t)n;
		if (len == sizeof(secret) - 1)
			fail("read", E2BIG, "stdin");
	}
	if (len == 0 || memchr(secret, '\0', len))
		fail("read", EINVAL, "stdin");
	secret[len] = '\0';
	return secret;
}

static int mount_pinned(int argc, char **argv)
{
	const char *path = argv[0], *fstype = argv[1], *source = argv[2];
	unsigned int attrs = (unsigned int)number(argv[3], 1ULL << 32);
	int fsfd, mnt, target, proc;
	struct stat initial_user;

	proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (proc < 0 || fstatat(proc, "self/ns/user", &initial_user, 0) < 0)
		fail("stat", errno, "/proc/self/ns/user");
	enter_caller_view();
	require_initial_owner(proc, &initial_user);
	close(proc);
	target = open_strict(AT_FDCWD, path, O_PATH | O_DIRECTORY, 0);
	if (target < 0)
		fail("openat2", errno, path);
	same_inode(target, PINNED_FD, path);
	fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		fail("fsopen", errno, fstype);
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
		fs_fail(fsfd, "fsconfig", errno);
	for (int i = 4; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		size_t len = strlen(argv[i]);
		int rc;

		if (!eq && len > 1 && argv[i][len - 1] == '<') {
			argv[i][len - 1] = '\0';
			rc = fsconfig(fsfd, FSCONFIG_SET_STRING, argv[i], read_secret(), 0);
			explicit_bzero(secret, sizeof(secret));
		} else if (eq) {
			*eq = '\0';
			rc = fsconfig(fsfd, FSCONFIG_SET_STRING, argv[i], eq + 1, 0);
		} else {
			rc = fsconfig(fsfd, FSCONFIG_SET_FLAG, argv[i], NULL, 0);
		}
		if (rc < 0)
			fs_fail(fsfd, "fsconfig", errno);
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		fs_fail(fsfd, "fsconfig", errno);
	mnt = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | attrs);
	if (mnt < 0)
		fs_fail(fsfd, "fsmount", errno);
	if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail("move_mount", errno, path);
	printf("%llu\n", mount_id_at(mnt, "", AT_EMPTY_PATH, path));
	return 0;
}

/* Splits PATH at its last slash; the name must be one plain component. */
static char *split_last(char *path, char **parent)
{
	char *slash = strrchr(path, '/');
	char *name = slash + 1;

	if (!slash || slash == path || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		fail("usage", EINVAL, path);
	*slash = '\0';
	*parent = path;
	return name;
}

/*
 * As fusermount unmounts, plus kmxd's registry check: from inside the parent (the pinned one,
 * re-checked in the caller's namespace), only the mount kmxd recorded, never a followed symlink.
 */
static int unmount_pinned(char *path, const char *id_text, int lazy)
{
	unsigned long long want = number(id_text, ~0ULL);
	char *parent_path, *name = split_last(path, &parent_path);
	int parent;

	enter_caller_view();
	parent = open_strict(AT_FDCWD, parent_path, O_PATH | O_DIRECTORY, 0);
	if (parent < 0)
		fail("openat2", errno, parent_path);
	same_inode(parent, PINNED_FD, parent_path);
	if (fchdir(parent) < 0)
		fail("fchdir", errno, parent_path);
	if (mount_id_at(AT_FDCWD, name, 0, name) != want)
		fail("mount_id", ESTALE, name);
	if (umount2(name, UMOUNT_NOFOLLOW | (lazy ? MNT_DETACH : 0)) < 0)
		fail("umount2", errno, name);
	return 0;
}

/*
 * Becomes the user for good (groups, then gid, then uid: the order that can still drop each)
 * and opens the parent of RELPATH beneath their home, which must be theirs.
 */
static int user_parent(const char *uid_text, const char *gid_text, const char *home, char *relpath, char **name)
{
	uid_t uid = (uid_t)number(uid_text, 1ULL << 32);
	gid_t gid = (gid_t)number(gid_text, 1ULL << 32);
	char *slash = strrchr(relpath, '/');
	struct stat st;
	int homefd, parent;

	if (uid == 0 || relpath[0] == '/' || relpath[0] == '\0' || home[0] != '/')
		fail("usage", EINVAL, relpath);
	enter_caller_view();
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		fail("setresuid", errno, uid_text);
	if (setuid(0) == 0) /* the drop must be irreversible */
		fail("setuid", EPERM, uid_text);
	homefd = open(home, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (homefd < 0)
		fail("open", errno, home);
	if (fstat(homefd, &st) < 0)
		fail("fstat", errno, home);
	if (st.st_uid != uid)
		fail("home", EPERM, home);
	*name = slash ? slash + 1 : relpath;
	if (slash)
		*slash = '\0';
	if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		fail("usage", EINVAL, *name);
	parent = slash ? open_strict(homefd, relpath, O_PATH | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_XDEV) : homefd;
	if (parent < 0)
		fail("openat2", errno, relpath);
	return parent;
}

static int symlink_as_user(char **argv)
{
	char *name;
	int parent = user_parent(argv[0], argv[1], argv[2], argv[3], &name);

	if (symlinkat(argv[4], parent, name) < 0)
		fail("symlinkat", errno, name);
	return 0;
}

static int unlink_as_user(int argc, char **argv)
{
	char *name, target[PATH_MAX];
	int parent = user_parent(argv[0], argv[1], argv[2], argv[3], &name);
	ssize_t n = readlinkat(parent, name, target, sizeof target - 1);

	if (n < 0)
		fail("readlinkat", errno, name);
	target[n] = '\0';
	for (int i = 4; i < argc; i++) {
		if (strcmp(target, argv[i]) != 0)
			continue;
		if (unlinkat(parent, name, 0) < 0)
			fail("unlinkat", errno, name);
		return 0;
	}
	fail("readlinkat", EPERM, target); /* not a link to one of the user's mounts */
	return EXIT_FAILED;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "attach") == 0 && argc == 3 && argv[2][0] == '/')
		return attach(argv[2]);
	if (strcmp(mode, "unmount") == 0 && argv[2] && argv[2][0] == '/' &&
	    (argc == 3 || (argc == 4 && strcmp(argv[3], "--lazy") == 0)))
		return unmount(argv[2], argc == 4);
	if (strcmp(mode, "mountinfo") == 0 && argc == 2)
		return print_mountinfo();
	if (strcmp(mode, "mount-pinned") == 0 && argc >= 6 && argc < 6 + MAX_OPTIONS && argv[2][0] == '/')
		return mount_pinned(argc - 2, argv + 2);
	if (strcmp(mode, "unmount-pinned") == 0 && argv[2] && argv[2][0] == '/' && argv[3] &&
	    (argc == 4 || (argc == 5 && strcmp(argv[4], "--lazy") == 0)))
		return unmount_pinned(argv[2], argv[3], argc == 5);
	if (strcmp(mode, "symlink-as-user") == 0 && argc == 7)
		return symlink_as_user(argv + 2);
	if (strcmp(mode, "unlink-as-user") == 0 && argc >= 7)
		return unlink_as_user(argc - 2, argv + 2);
	if (strcmp(mode, "hold") == 0 && argc == 2)
		return hold();
	if (strcmp(mode, "run") == 0 && argc > 2)
		return run(argc - 2, argv + 2);
	fail("usage", EINVAL, mode);
	return EXIT_FAILED;
}
