%% Bounds shared by the Erlang modules, each stated once. Their home is
%% native/reactor_shared.h, where C and Node read them too: these are
%% Erlang's copies, which reactor_wire_golden_tests holds to it.

%% Connection ids are positive 31-bit integers (erlpack's integers are 32-bit
%% signed). REACTOR_MAX_ID.
-define(MAX_ID, 16#7fffffff).

%% fds per SCM_RIGHTS message on the channel: the addon receives at most this
%% many. REACTOR_MAX_FDS_PER_MSG.
-define(MAX_FDS_PER_MSG, 64).

%% Terms on the bridge (reactor_term): the most bytes of a term's External Term
%% Format encoding, version byte included (64 MiB), and the deepest it may nest
%% (each list, tuple or map is a level). Node: MAX_TERM_SIZE and MAX_TERM_DEPTH
%% in ts/limits.ts; their home is native/reactor_shared.h, and the golden tests
%% and reactor_term_prop_tests hold the copies to it.
-define(MAX_TERM_SIZE, (64 * 1024 * 1024)).
-define(MAX_TERM_DEPTH, 1000).

%% The largest read_size a context takes (bytes; reactor_config refuses more,
%% Node's init refuses more). REACTOR_MAX_READ_SIZE.
-define(MAX_READ_SIZE, (16 * 1024 * 1024)).
