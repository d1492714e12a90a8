/* child.h - not yet written */
