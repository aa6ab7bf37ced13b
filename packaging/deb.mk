# packaging/deb.mk — read after the Makefile by scripts/mkdeb.sh (`make deb`), never on
# its own:  make -f Makefile -f packaging/deb.mk SANITIZE= DEB_BINDIR=DIR deb-bins
#
# Links the release binaries into DEB_BINDIR from the Makefile's own objects in
# build/rel. Why not bin/: the Makefile decides whether bin/spool-api is up to date by
# time stamps alone, against the objects of whichever build it is asked for, and keeps
# no record of which one it was linked from. After `make SANITIZE=address,undefined`
# (what CI does first) bin/ holds ASan/UBSan binaries that are newer than build/rel's
# objects, so a plain `make install` would copy them as they are. Relinking bin/
# instead would swap release binaries under a sanitized stack (the tests run bin/), so
# the package's binaries get a directory of their own and bin/ is never touched.
#
# The link commands are the Makefile's bin/ rules with another output; t0930 checks
# that they stay the same (make -n of both).
ifneq ($(SANITIZE),)
$(error packaging/deb.mk: the package is a release build: run it with SANITIZE=)
endif

DEB_BINDIR ?= build/deb/bin
DEB_BINS   := $(addprefix $(DEB_BINDIR)/,spool-api spool-worker adminctl)

$(DEB_BINDIR)/spool-api: $(API_OBJ) $(LIBSPOOL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(API_OBJ) $(LIBSPOOL) $(PKG_LIBS) -lm

$(DEB_BINDIR)/spool-worker: $(WORKER_OBJ) $(LIBSPOOL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(WORKER_OBJ) $(LIBSPOOL) $(PKG_LIBS) -lm

$(DEB_BINDIR)/adminctl: $(ADM_OBJ) $(LIBSPOOL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(ADM_OBJ) $(LIBSPOOL) $(PKG_LIBS) $(CURSES_LIBS) -lm

.PHONY: deb-bins
deb-bins: $(DEB_BINS)
