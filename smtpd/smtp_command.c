/* smtp_command - not yet written */
#include "config.h"
