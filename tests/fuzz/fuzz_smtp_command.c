/*
 * fuzz_smtp_command - libFuzzer target for smtpd/smtp_command.c.
 *
 * The first input octet chooses the advertised extensions, the rest is one
 * command line.  Besides memory errors (ASan) it checks that every refusal
 * carries a well-formed "NNN X.Y.Z " reply with the returned code, and that
 * a parsed argument lies inside the line.  Built by build.sh.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* reply_ok - reply is "NNN X.Y.Z text" and NNN is code */
static int
reply_ok(const char *r, int code)
{
	char want[8];
	size_t i;

	snprintf(want, sizeof(want), "%d ", code);
	if (code < 400 || code > 599 || strncmp(r, want, 4) != 0 ||
	    r[4] != r[0] || r[5] != '.')
		return 0;
	for (i = 6; r[i] >= '0' && r[i] <= '9'; i++)
		;
	if (i == 6 || r[i] != '.')
		return 0;
	for (i++; r[i] >= '0' && r[i] <= '9'; i++)
		;
	return r[i] == ' ' && r[i + 1] != '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_command cmd;
	char reply[512], *line;
	size_t len;
	int rc, ext;

	if (size < 1)
		return 0;
	ext = data[0] & 0x3f;	/* SMTP_EXT_* up to REQUIRETLS */
	len = size - 1;
	if ((line = malloc(len > 0 ? len : 1)) == NULL)
		return 0;
	memcpy(line, data + 1, len);
	rc = smtp_command_parse(line, len, ext, &cmd, reply, sizeof(reply));
	if (rc != 0) {
		if (!reply_ok(reply, rc))
			abort();
	} else {
		if (cmd.verb == SMTP_CMD_UNKNOWN)
			abort();
		if (cmd.arglen > 0 && (cmd.arg < line ||
		    cmd.arg + cmd.arglen > line + len))
			abort();
		if (strlen(cmd.envid) > SMTP_ENVID_MAX ||
		    strlen(cmd.orcpt) > SMTP_ORCPT_MAX)
			abort();
		if ((cmd.verb == SMTP_CMD_MAIL || cmd.verb == SMTP_CMD_RCPT) &&
		    cmd.arglen == 0)
			abort();
		if (cmd.verb != SMTP_CMD_MAIL && cmd.verb != SMTP_CMD_RCPT &&
		    cmd.addr.local[0] != '\0')
			abort();
	}
	(void)smtp_verb_name(cmd.verb);
	free(line);
	return 0;
}
