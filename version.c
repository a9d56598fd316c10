/* SPDX-License-Identifier: ISC */
/*
 * version.c - smtpd_version (server.h): the version this library was
 * built as, for a program that wants to know at run time (its own
 * SMTPD_VERSION is the headers' it was compiled with).
 */
#include "server.h"

const char *
smtpd_version(void)
{
	return SMTPD_VERSION;
}
