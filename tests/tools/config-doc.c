/* Print the configuration key table as mdoc, for man/spool.ini.5. */
#include <stdio.h>

#include "config.h"

int main(void)
{
	config_dump_doc(stdout);
	return 0;
}
