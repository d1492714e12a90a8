/* smtp_session - not yet written */
#include "config.h"
