#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Jobs: lifecycle and signal order, Wait, failure, linger, Cancel, crash-consistency."""

import os
import threading
import time

from pd_testcase import (DBUS_ERR, ERR, JOB_IFACE, MANAGER_IFACE, ROOT_PATH, DBusError,
                         PlugindTestCase, main, make_context, plugin_config)

from gi.repository import Gio  # noqa: E402  (after pd_testcase's gi.require_version)

SIGNAL = Gio.DBusMessageType.SIGNAL
RETURN = Gio.DBusMessageType.METHOD_RETURN


class JobLifecycleTests(PlugindTestCase):

    def test_lifecycle_and_signal_order(self):
        t0 = int(time.time() * 1000000)
        job = self.create('test/life')
        serial = self.last_serial
        results = self.wait_job(job)
        wait_serial = self.last_serial
        # JobNew is emitted before the method reply (the wire order as received)
        jobnew = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'JobNew' and
                                 m[4][1] == job)
        reply = self.wire_index(lambda m: m[0] == RETURN and m[3] == serial)
        self.assertGreaterEqual(jobnew, 0, 'no JobNew signal')
        self.assertGreaterEqual(reply, 0)
        self.assertLess(jobnew, reply, 'JobNew must come before the reply of Create: ' +
                        self.wire_summary())
        jn = self.wait_signal('JobNew', lambda a: a[1] == job)
        job_id = jn[3][0]
        self.assertEqual(jn[3][2], 'create')
        self.assertEqual(job, ROOT_PATH + '/job/%d' % job_id)

        # then, at the end: Completed, JobFinished, PluginEvent("create"), in that order
        completed = self.wait_signal('Completed', path=job)
        self.assertEqual(completed[3], ('done', '', ''))
        finished = self.wait_signal('JobFinished', lambda a: a[1] == job)
        self.assertEqual(finished[3], (job_id, job, 'done'))
        plugin = results['plugin']
        ev = self.wait_signal('PluginEvent', lambda a: a[0] == 'create')
        action, pid, name, obj, ts, attrs = ev[3]
        self.assertEqual((pid, name, obj), (results['plugin-id'], 'test/life:latest', plugin))
        self.assertEqual(attrs['name'], 'test/life:latest')
        self.assertTrue(t0 <= ts <= int(time.time() * 1000000), ts)
        i_completed = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'Completed' and
                                      m[2] == job)
        i_finished = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'JobFinished' and
                                     m[4][1] == job)
        i_event = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'PluginEvent' and
                                  m[4][0] == 'create')
        order = self.wire_summary()
        self.assertLess(i_completed, i_finished, 'Completed before JobFinished: ' + order)
        self.assertLess(i_finished, i_event, 'JobFinished before PluginEvent: ' + order)
        # docs/dbus-api.md, "Job lifecycle": one PropertiesChanged with State=finished first, the
        # Wait replies last
        i_props = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'PropertiesChanged' and
                                  m[2] == job and m[4][0] == JOB_IFACE and
                                  m[4][1].get('State') == 'finished')
        self.assertGreaterEqual(i_props, 0, 'no PropertiesChanged with State=finished: ' + order)
        self.assertLess(i_props, i_completed, order)
        i_wait = self.wire_index(lambda m: m[0] == RETURN and m[3] == wait_serial)
        self.assertLess(i_event, i_wait, 'Wait replies after PluginEvent: ' + order)
        # the plugin object exists before the job says so
        i_added = self.wire_index(lambda m: m[0] == SIGNAL and m[1] == 'InterfacesAdded' and
                                  m[4][0] == plugin)
        self.assertGreaterEqual(i_added, 0)
        self.assertLess(i_added, i_completed)

        # results and properties
        self.assertEqual(results['plugin-id'], plugin.rsplit('/', 1)[1])
        self.assertRegex(results['manifest-digest'], r'^sha256:[0-9a-f]{64}$')
        props = self.get_all(job, JOB_IFACE)
        self.assertEqual(props['Id'], job_id)
        self.assertEqual(props['Operation'], 'create')
        self.assertEqual(props['Remote'], '')
        self.assertEqual(props['PluginName'], 'test/life:latest')
        self.assertEqual(props['StartedByUID'], 0)
        self.assertTrue(t0 <= props['StartTime'] <= int(time.time() * 1000000))
        self.assertEqual(props['State'], 'finished')
        self.assertEqual(props['Result'], 'done')
        self.assertEqual(props['ErrorName'], '')
        self.assertEqual(props['ErrorMessage'], '')
        self.assertEqual(props['Plugin'], plugin)
        self.assertIs(props['Cancellable'], False)
        self.assertEqual(props['Results']['plugin'], plugin)
        self.assertEqual(props['Results']['plugin-id'], results['plugin-id'])
        self.assertEqual(props['Results']['manifest-digest'], results['manifest-digest'])

        # lingering: Wait answers at once with the same results; ListJobs still lists it
        self.assertEqual(self.wait_job(job), results)
        jobs = self.list_jobs()
        self.assertEqual([(j[0], j[1], j[3], j[5]) for j in jobs],
                         [(job_id, 'create', 'test/life:latest', job)])

    def test_progress_regular_file(self):
        data = make_context()
        job = self.create('test/progress', data)
        self.wait_job(job)
        props = self.get_all(job, JOB_IFACE)
        self.assertIs(props['ProgressValid'], True)
        self.assertEqual(props['BytesTotal'], len(data))
        self.assertEqual(props['BytesDone'], len(data))
        self.assertEqual(props['Progress'], 1.0)

    def test_progress_pipe(self):
        data = make_context()
        job = self.create('test/progress', data, how='pipe')
        self.wait_job(job)
        props = self.get_all(job, JOB_IFACE)
        self.assertIs(props['ProgressValid'], False)
        self.assertEqual(props['BytesTotal'], 0)
        self.assertEqual(props['BytesDone'], len(data))

    def test_failed_job(self):
        job = self.create('test/fail', make_context(omit_rootfs=True))
        with self.assertRaises(Exception) as cm:
            self.wait_job(job)
        err = cm.exception
        self.assertEqual(err.name, ERR + 'InvalidArchive')
        props = self.get_all(job, JOB_IFACE)
        self.assertEqual(props['State'], 'finished')
        self.assertEqual(props['Result'], 'failed')
        self.assertEqual(props['ErrorName'], err.name)
        self.assertEqual(props['ErrorMessage'], err.message)
        self.assertEqual(props['Plugin'], '/')
        self.assertEqual(props['Results'], {})
        completed = self.wait_signal('Completed', path=job)
        self.assertEqual(completed[3], ('failed', err.name, err.message))
        finished = self.wait_signal('JobFinished', lambda a: a[1] == job)
        self.assertEqual(finished[3][2], 'failed')
        # no plugin event, no plugin, nothing staged
        self.assertEqual([s for s in self.signals_named('PluginEvent')], [])
        self.assertEqual(self.list_plugins(), [])
        # Wait keeps answering with the job's error during the linger period
        with self.assertRaises(Exception) as cm:
            self.wait_job(job)
        self.assertEqual(cm.exception.name, ERR + 'InvalidArchive')

    def test_job_ids_increase(self):
        ids = []
        for i in range(3):
            job = self.create('test/ids%d' % i)
            self.wait_job(job)
            ids.append(self.job_prop(job, 'Id'))
        self.assertEqual(ids, sorted(set(ids)))

    def test_cancel_finished_job_is_noop(self):
        job = self.create('test/cancel-done')
        results = self.wait_job(job)
        self.call(job, JOB_IFACE, 'Cancel', self.variant('(a{sv})', ({},)))
        self.assertEqual(self.job_prop(job, 'Result'), 'done')
        self.assertEqual(self.wait_job(job), results)
        self.assertEqual(len(self.list_plugins()), 1)

    def variant(self, sig, value):
        from gi.repository import GLib
        return GLib.Variant(sig, value)


class JobLingerTests(PlugindTestCase):
    job_linger_ms = 1500

    def test_linger_then_unknown_object(self):
        job = self.create('test/linger')
        results = self.wait_job(job)
        finished_at = time.monotonic()
        self.assertEqual(self.job_prop(job, 'Result'), 'done')
        self.assertEqual(self.wait_job(job), results)
        removed = self.wait_signal('InterfacesRemoved', lambda a: a[0] == job, path=ROOT_PATH,
                                   timeout=30)
        self.assertIn(JOB_IFACE, removed[3][1])
        # not before the linger period (a lower bound only: no timing upper bound in tests)
        self.assertGreaterEqual(time.monotonic() - finished_at, 1.0)
        # GDBus sends InterfacesRemoved before it unregisters the object, so a call routed in
        # between (its worker thread routes, the main thread unregisters) is answered
        # UnknownMethod; once unregistered, every call is UnknownObject
        self.assertDBusError((DBUS_ERR + 'UnknownObject', DBUS_ERR + 'UnknownMethod'),
                             self.wait_job, job)
        self.wait_until(lambda: self.assertDBusError(
            (DBUS_ERR + 'UnknownObject', DBUS_ERR + 'UnknownMethod'), self.wait_job,
            job).name == DBUS_ERR + 'UnknownObject', msg='job object unregistered')
        self.assertDBusError(DBUS_ERR + 'UnknownObject', self.job_prop, job, 'Result')
        self.assertEqual(self.list_jobs(), [])
        # the plugin stays
        self.assertEqual(len(self.list_plugins()), 1)


class CancelTests(PlugindTestCase):

    def blocked_create(self, name):
        """A create whose context is a pipe nobody writes yet: the job blocks reading it."""
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            job = self.create(name, fd=r)
        finally:
            os.close(r)
        w_open = [True]
        self.addCleanup(lambda: os.close(w) if w_open[0] else None)
        self.wait_until(lambda: self.job_prop(job, 'State') == 'running', msg='job running')
        return job, w, w_open

    def test_cancel_running_job(self):
        job, w, w_open = self.blocked_create('test/cancel')
        self.assertIs(self.job_prop(job, 'Cancellable'), True)
        self.assertEqual(self.job_prop(job, 'Result'), '')
        # nothing can complete while the pipe is silent
        self.assertEqual(self.signals_named('Completed', path=job), [])
        self.call(job, JOB_IFACE, 'Cancel', self.v('(a{sv})', ({},)))
        with self.assertRaises(Exception) as cm:
            self.wait_job(job)
        self.assertEqual(cm.exception.name, ERR + 'JobCancelled')
        self.assertEqual(self.job_prop(job, 'Result'), 'cancelled')
        self.assertEqual(self.job_prop(job, 'ErrorName'), ERR + 'JobCancelled')
        finished = self.wait_signal('JobFinished', lambda a: a[1] == job)
        self.assertEqual(finished[3][2], 'cancelled')
        completed = self.wait_signal('Completed', path=job)
        self.assertEqual(completed[3][0:2], ('cancelled', ERR + 'JobCancelled'))
        os.close(w)
        w_open[0] = False
        self.assertEqual(self.list_plugins(), [])
        tmp = os.path.join(self.state_dir, 'tmp')
        self.assertEqual(os.listdir(tmp) if os.path.exists(tmp) else [], [])

    def test_job_finishes_when_data_arrives(self):
        job, w, w_open = self.blocked_create('test/late')
        data = make_context()

        def feed():
            os.write(w, data)
            os.close(w)
            w_open[0] = False
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        results = self.wait_job(job)
        t.join()
        self.assertEqual(self.plugin_prop(results['plugin'], 'Name'), 'test/late:latest')

    def test_same_name_in_flight(self):
        # a second create of a name that a running job is creating: Busy or PluginExists,
        # and in the end exactly one plugin of that name
        job, w, w_open = self.blocked_create('test/inflight')
        self.create_expect_error((ERR + 'Busy', ERR + 'PluginExists'), 'test/inflight')
        os.write(w, make_context())
        os.close(w)
        w_open[0] = False
        results = self.wait_job(job)
        self.assertEqual([p[5] for p in self.list_plugins()], [results['plugin']])

    def test_jobs_not_tied_to_caller(self):
        # the job survives its caller's connection
        other = self.bus.connect()
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            from gi.repository import GLib
            job = self.call('/org/plugind/Plugind1/Manager', MANAGER_IFACE, 'Create',
                            GLib.Variant('(sha(ssas)a{sv})', ('test/orphan', 0, [], {})),
                            '(o)', fd=r, conn=other)[0]
        finally:
            os.close(r)
        other.close_sync(None)
        os.write(w, make_context())
        os.close(w)
        results = self.wait_job(job)
        self.assertEqual(self.plugin_prop(results['plugin'], 'Name'), 'test/orphan:latest')

    def v(self, sig, value):
        from gi.repository import GLib
        return GLib.Variant(sig, value)


class CrashTests(PlugindTestCase):
    """kill -9 at named points of Create (PLUGIND_CRASH_POINT), then restart: the plugin is
    fully present or absent and the invariants hold."""

    def crash_during_create(self, point):
        self.restart_daemon({'PLUGIND_CRASH_POINT': point})
        try:
            self.create('test/crash')
        except DBusError:
            pass  # the daemon may die before it replies
        rc = self.wait_daemon_death()
        self.assertEqual(rc, -9, 'plugind did not SIGKILL itself at %s' % point)
        self.start_daemon()
        self.check_invariants(settle=False)
        return self.list_plugins()

    def assertAbsentAndRecreatable(self, listed):
        self.assertEqual(listed, [])
        self.assertEqual(self.blob_digests(), set(), 'unreferenced blobs left after restart')
        path, _ = self.create_ok('test/crash')
        self.assertEqual(self.plugin_prop(path, 'Name'), 'test/crash:latest')

    def test_crash_create_before_commit(self):
        self.assertAbsentAndRecreatable(self.crash_during_create('create-before-commit'))

    def test_crash_store_commit_before_rename(self):
        self.assertAbsentAndRecreatable(self.crash_during_create('store-commit-before-rename'))

    def test_crash_store_commit_after_rename(self):
        listed = self.crash_during_create('store-commit-after-rename')
        self.assertEqual([p[1] for p in listed], ['test/crash:latest'])
        path = listed[0][5]
        self.assertEqual(self.plugin_prop(path, 'Name'), 'test/crash:latest')
        rootfs = os.path.join(self.plugin_dir(listed[0][0]), 'rootfs')
        with open(os.path.join(rootfs, 'bin', 'hello'), 'rb') as f:
            self.assertEqual(f.read(), b'#!/bin/sh\necho hello\n')
        self.assertIn('DEBUG=0', self.plugin_env(path))
        self.create_expect_error(ERR + 'PluginExists', 'test/crash')

    def test_crash_create_other_points(self):
        # the remaining points of a create: a plugin is never half-present
        for point in ('blob-before-rename', 'blob-after-rename',
                      'store-commit-record-before-rename'):
            with self.subTest(point=point):
                self.assertEqual(self.crash_during_create(point), [])
                self.create_ok('test/crash')
                self.remove(self.get_plugin('test/crash'))

    def crash_during_remove(self, point):
        path, res = self.create_ok('test/victim')
        self.restart_daemon({'PLUGIND_CRASH_POINT': point})
        try:
            self.remove(path)
        except DBusError:
            pass
        rc = self.wait_daemon_death()
        self.assertEqual(rc, -9, 'plugind did not SIGKILL itself at %s' % point)
        self.start_daemon()
        self.check_invariants(settle=False)
        return path, res['plugin-id'], self.list_plugins()

    def test_crash_remove_before_rename(self):
        path, pid, listed = self.crash_during_remove('store-remove-before-rename')
        self.assertEqual([p[5] for p in listed], [path])
        with open(os.path.join(self.plugin_dir(pid), 'rootfs', 'bin', 'hello'), 'rb') as f:
            self.assertEqual(f.read(), b'#!/bin/sh\necho hello\n')
        self.remove(path)

    def test_crash_remove_after_rename(self):
        for point in ('store-remove-after-rename', 'store-remove-after-record-unlink'):
            with self.subTest(point=point):
                path, pid, listed = self.crash_during_remove(point)
                self.assertEqual(listed, [])
                self.assertFalse(os.path.exists(self.plugin_dir(pid)))
                self.assertDBusError(DBUS_ERR + 'UnknownObject', self.plugin_prop, path, 'Name')
                # the name is free again
                self.create_ok('test/victim')
                self.remove(self.get_plugin('test/victim'))

    def test_crash_keeps_other_plugins(self):
        path, _ = self.create_ok('test/bystander', make_context(plugin_config(Description='b')))
        doc = self.inspect(path)
        listed = self.crash_during_create('store-commit-before-rename')
        self.assertEqual([p[5] for p in listed], [path])
        self.assertEqual(self.inspect(path), doc)


if __name__ == '__main__':
    main()
