/* master_listen - not yet written */
#include "config.h"
