# The C unit tests (cookies, signatures, event parsing, chains, time
# zones): each build/*_tests binary prints TAP itself; this file runs
# them one after another and numbers their results as one plan.
use strict;
use warnings;
use File::Basename qw(dirname basename);
use Cwd qw(abs_path);

my $root = abs_path(dirname(__FILE__) . '/..');
my @bins = grep { -x } map { "$root/build/" . basename($_, '.c') }
           glob("$root/t/unit/*_tests.c");

if (!@bins) {
    print "1..0 # SKIP no unit test binaries built (run make unit)\n";
    exit 0;
}

my $n = 0;

for my $bin (@bins) {
    my $name = basename($bin);
    my $out = `$bin`;
    my $status = $?;
    my $failed = 0;

    for my $line (split /\n/, $out) {
        if ($line =~ /^(not )?ok \d+(?: - )?(.*)$/) {
            $n++;
            $failed++ if $1;
            print $1 // '', "ok $n - $name: $2\n";
        } elsif ($line !~ /^1\.\.\d+/) {
            print "# $line\n";
        }
    }

    # a crash, or a failure that printed no failed test, fails on its own
    if ($status & 127 || ($status != 0 && !$failed)) {
        $n++;
        print "not ok $n - $name exited with status $status\n";
    }
}

print "1..$n\n";
