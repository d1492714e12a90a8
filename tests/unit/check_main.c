/*
 * check_main - runs every unit test suite; exit status 0 only when all pass.
 */
#include "config.h"

#include <stdlib.h>

#include "check_suites.h"

int
main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int failed;

	srunner_add_suite(sr, smtp_command_suite());
	srunner_add_suite(sr, smtp_data_suite());
	srunner_add_suite(sr, smtp_bdat_suite());
	srunner_add_suite(sr, idna_suite());
	srunner_add_suite(sr, ipc_suite());
	srunner_add_suite(sr, settings_suite());
	srunner_add_suite(sr, received_suite());
	srunner_add_suite(sr, maildir_suite());
	srunner_add_suite(sr, mbox_suite());
	srunner_add_suite(sr, envelope_suite());
	srunner_add_suite(sr, queue_store_suite());
	srunner_add_suite(sr, destination_suite());
	srunner_add_suite(sr, bounce_suite());
	srunner_add_suite(sr, map_suite());
	srunner_add_suite(sr, smtp_auth_suite());
	srunner_add_suite(sr, master_clients_suite());
	srunner_add_suite(sr, fdlimit_suite());
	srunner_add_suite(sr, dns_suite());
	srunner_add_suite(sr, smtp_client_suite());
	srunner_add_suite(sr, resolve_suite());
	srunner_add_suite(sr, msgfile_suite());
	srunner_add_suite(sr, qid_suite());
	srunner_add_suite(sr, myaddr_suite());
	srunner_add_suite(sr, msg_codec_suite());
	srunner_add_suite(sr, fsspace_suite());
	srunner_add_suite(sr, daemon_channel_suite());
	srunner_add_suite(sr, sendmail_msg_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, control_request_suite());
	srunner_add_suite(sr, virtual_suite());
	srunner_add_suite(sr, tls_policy_suite());
	srunner_add_suite(sr, zmem_suite());
	srunner_add_suite(sr, mtasts_suite());
	srunner_add_suite(sr, tls_ca_suite());
	srunner_add_suite(sr, file_pool_suite());
	srunner_add_suite(sr, scheduler_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
