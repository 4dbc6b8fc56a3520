# The C unit tests (cookies, signatures, event parsing): build/unit_tests
# prints TAP itself, so this file just hands over to it.
use strict;
use warnings;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $bin = abs_path(dirname(__FILE__) . '/..') . '/build/unit_tests';

if (-x $bin) {
    exec $bin or die "exec $bin: $!";
}

print "1..0 # SKIP $bin not built (run make unit)\n";
