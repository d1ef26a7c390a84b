/* version: wabridge's version, written once (the version command, the User-Agent). */
#ifndef WB_VERSION_H
#define WB_VERSION_H

#define WB_VERSION "0.1.0"

#endif
