/* transport_local.h - not yet written */
