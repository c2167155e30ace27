%% @doc TLS options as the port takes them. TLS is terminated in Node, which
%% gets the files' paths: they are checked here first, so a typo is a clear
%% error where the options are given (a context's start, a listener's start).
-module(reactor_tls).

-export([options/1]).

-export_type([opts/0]).

-type opts() :: #{certfile := file:filename_all(), keyfile := file:filename_all(),
                  cacertfile => file:filename_all(), verify => verify_peer | verify_none,
                  fail_if_no_peer_cert => boolean(), alpn => [iodata()],
                  handshake_timeout => non_neg_integer()}.

%% @doc Validated options with absolute paths as binaries; throws
%% `{tls_file_not_found, Key, Path}' or `{bad_tls_options, Term}'.
-spec options(opts()) -> map().
options(#{certfile := Cert, keyfile := Key} = T) ->
    Files = [{K, F} || {K, F} <- [{certfile, Cert}, {keyfile, Key},
                                   {cacertfile, maps:get(cacertfile, T, undefined)}],
                       F =/= undefined],
    [filelib:is_regular(F) orelse throw({tls_file_not_found, K, F}) || {K, F} <- Files],
    Paths = maps:from_list([{K, unicode:characters_to_binary(filename:absname(F))} || {K, F} <- Files]),
    Paths#{verify => maps:get(verify, T, verify_none),
           fail_if_no_peer_cert => maps:get(fail_if_no_peer_cert, T, true),
           alpn => [iolist_to_binary(A) || A <- maps:get(alpn, T, [])],
           handshake_timeout => maps:get(handshake_timeout, T, 10000)};
options(Other) ->
    throw({bad_tls_options, Other}).
