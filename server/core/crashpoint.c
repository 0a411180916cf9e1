/* server/core/crashpoint.c: see crashpoint.h. */
#include "crashpoint.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const points[] = {"media_processing", "media_before_commit",
                                     "action_before_commit"};
static const char *armed;

bool crashpoint_arm(const char *name)
{
    if (!name || !name[0]) {
        armed = NULL;
        return true;
    }
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        if (strcmp(points[i], name) == 0) {
            armed = points[i];
            return true;
        }
    }
    return false;
}

const char *crashpoint_armed(void)
{
    return armed;
}

void crashpoint_hit(const char *name)
{
    char line[96];
    int n;

    if (!armed || strcmp(armed, name) != 0)
        return;
    n = snprintf(line, sizeof line, "cityd: crash point %s: SIGKILL (testing.crash_at)\n", name);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n); /* best effort: we die next */
        (void)w;
    }
    raise(SIGKILL);
}
