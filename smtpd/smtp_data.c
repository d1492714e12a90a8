/* smtp_data - not yet written */
#include "config.h"
