/*
 * replay_main - main() for a fuzz target built without libFuzzer: feeds
 * each file named on the command line (each file inside a directory
 * named) to LLVMFuzzerTestOneInput once, as libFuzzer does when it
 * replays a corpus.  A broken promise aborts, as under libFuzzer, so a
 * saved crash stays fixed in builds made with any compiler.
 * Built by "build.sh -r"; run by replay.sh (make check).
 */
#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv);

/* The input being replayed, named when it kills the process. */
static char current[4096];

/* replay_died - name the input that killed us, then die of the signal */
static void
replay_died(int sig)
{
	static const char msg[] = "replay: failing input: ";
	ssize_t rc;

	rc = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	rc = write(STDERR_FILENO, current, strnlen(current, sizeof(current)));
	rc = write(STDERR_FILENO, "\n", 1);
	(void)rc;
	signal(sig, SIG_DFL);
	raise(sig);
}

/* replay_file - run the target on the contents of path; 0, or -1 */
static int
replay_file(const char *path)
{
	FILE *fp;
	uint8_t *buf;
	long len;

	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) != 0 ||
	    (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		perror(path);
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	/* an exact-size heap copy, so overreads are caught */
	if ((buf = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
	    fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		perror(path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	snprintf(current, sizeof(current), "%s", path);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

/* replay_path - a file, or every regular file directly in a directory */
static int
replay_path(const char *path, int *n)
{
	struct dirent *de;
	struct stat st;
	char sub[4096];
	DIR *d;
	int rc = 0;

	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*n)++;
		return replay_file(path);
	}
	if ((d = opendir(path)) == NULL) {
		perror(path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
		    de->d_name) >= sizeof(sub) || stat(sub, &st) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		(*n)++;
		if (replay_file(sub) != 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
	int n = 0, rc = 0;

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], replay_died);
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &n) != 0)
			rc = 1;
	printf("%s: %d inputs replayed\n", argc > 0 ? argv[0] : "replay", n);
	return rc;
}
