/* check_suites - every unit test suite linked into check_tern */
#ifndef TERN_CHECK_SUITES_H
#define TERN_CHECK_SUITES_H

#include <check.h>

Suite *addr_suite(void);
Suite *smtp_command_suite(void);
Suite *smtp_data_suite(void);
Suite *smtp_bdat_suite(void);
Suite *idna_suite(void);
Suite *ipc_suite(void);
Suite *settings_suite(void);
Suite *received_suite(void);
Suite *maildir_suite(void);
Suite *mbox_suite(void);
Suite *envelope_suite(void);
Suite *queue_store_suite(void);
Suite *destination_suite(void);
Suite *bounce_suite(void);
Suite *map_suite(void);
Suite *smtp_auth_suite(void);
Suite *master_clients_suite(void);
Suite *fdlimit_suite(void);
Suite *dns_suite(void);
Suite *smtp_client_suite(void);
Suite *resolve_suite(void);
Suite *msgfile_suite(void);
Suite *qid_suite(void);
Suite *myaddr_suite(void);
Suite *msg_codec_suite(void);
Suite *fsspace_suite(void);
Suite *daemon_channel_suite(void);
Suite *sendmail_msg_suite(void);
Suite *json_suite(void);
Suite *control_request_suite(void);
Suite *virtual_suite(void);
Suite *tls_policy_suite(void);
Suite *zmem_suite(void);
Suite *mtasts_suite(void);
Suite *tls_ca_suite(void);
Suite *file_pool_suite(void);
Suite *scheduler_suite(void);

#endif
