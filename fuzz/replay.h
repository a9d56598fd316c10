/* SPDX-License-Identifier: ISC */
/*
 * replay.h - the replay program of a libFuzzer target, shared by
 * fuzz_channel.c, fuzz_address.c and fuzz_fault.c: each includes it last
 * when built with -DFUZZ_REPLAY_MAIN, and it runs every input named on the
 * command line (files, or directories of files) once through
 * LLVMFuzzerTestOneInput.
 * A crash or an abort() fails it, which is how the regressions fail a
 * test.
 */
#ifndef FUZZ_REPLAY_H
#define FUZZ_REPLAY_H

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

/* replay_file - run one input file once. */
static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap)) == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
	} while (n > 0);
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

/* main - run each file, and each file of each directory, named. */
int
main(int argc, char **argv)
{
	int count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) != 0)
				return 1;
			count++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    e->d_name);
			if (replay_file(path) != 0) {
				closedir(d);
				return 1;
			}
			count++;
		}
		closedir(d);
	}
	printf("fuzz replay: %d inputs, no crash\n", count);
	return 0;
}
#endif /* FUZZ_REPLAY_H */
