/* SPDX-License-Identifier: ISC */
/*
 * suite.h - registering a CUnit suite from a table of tests, shared by the
 * unit test files (test_main.c defines it).  Apart from unit.h, so that
 * test_server.c can stay on the public API alone.
 */
#ifndef SUITE_H
#define SUITE_H

#include <stddef.h>

struct unit_test {
	const char	*name;
	void		(*fn)(void);
};

int	unit_add_suite(const char *name, const struct unit_test *, size_t n);

#endif
