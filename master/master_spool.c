/* master_spool - not yet written */
#include "config.h"
