/* smtp_received - not yet written */
#include "config.h"
