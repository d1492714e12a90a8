/* smtp_io - not yet written */
#include "config.h"
