# SPDX-License-Identifier: ISC
"""Every SMTP command's replies and error texts, one behaviour per test.

The reply texts are Python's smtpd's (smtpd.py is the contract on the wire).
Tests marked @improvement assert a documented difference from Python.
"""
import re
import unittest

from helpers import FQDN, ServerTestCase, improvement

SUPPORTED = 'Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY'


class GreetingTest(ServerTestCase):

    def test_greeting_is_220_with_fqdn(self):
        c = self.client(self.server('-s', '1000'))
        self.assertTrue(c.greeting.startswith('220 %s ' % FQDN), c.greeting)

    @improvement('the greeting names the program: "220 <fqdn> smtpd <version>"')
    def test_greeting_names_smtpd_and_version(self):
        c = self.client(self.server('-s', '1000'))
        self.assertRegex(c.greeting, r'^220 %s smtpd \S+$' % re.escape(FQDN))


class HeloTest(ServerTestCase):

    def test_helo_is_250_fqdn(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('HELO client.example'), '250 ' + FQDN)

    def test_helo_is_case_insensitive(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('helo client.example'), '250 ' + FQDN)

    def test_helo_without_hostname_is_501(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('HELO'), '501 Syntax: HELO hostname')

    def test_duplicate_helo_is_503(self):
        c = self.helo_client(self.server())
        self.assertEqual(c.cmd('HELO again.example'), '503 Duplicate HELO/EHLO')

    def test_ehlo_after_helo_is_503_duplicate(self):
        c = self.helo_client(self.server())
        self.assertEqual(c.cmd('EHLO again.example'), '503 Duplicate HELO/EHLO')

    def test_helo_after_ehlo_is_503_duplicate(self):
        c = self.ehlo_client(self.server())
        self.assertEqual(c.cmd('HELO again.example'), '503 Duplicate HELO/EHLO')

    def test_duplicate_helo_keeps_the_transaction(self):
        c = self.helo_client(self.server())
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        self.assertEqual(c.cmd('HELO again.example'), '503 Duplicate HELO/EHLO')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '250 OK')


class EhloTest(ServerTestCase):

    def ehlo(self, *options):
        c = self.client(self.server(*options))
        return c.cmd('EHLO client.example').split('\n')

    def without_pipelining(self, lines):
        return [l for l in lines if l[4:] != 'PIPELINING']

    def test_ehlo_lists_size_8bitmime_help(self):
        self.assertEqual(self.without_pipelining(self.ehlo('-s', '1000')),
                         ['250-' + FQDN, '250-SIZE 1000', '250-8BITMIME', '250 HELP'])

    def test_ehlo_with_smtputf8_option_lists_smtputf8(self):
        self.assertEqual(self.without_pipelining(self.ehlo('-s', '1000', '-u')),
                         ['250-' + FQDN, '250-SIZE 1000', '250-8BITMIME',
                          '250-SMTPUTF8', '250 HELP'])

    def test_ehlo_with_size_zero_has_no_size_line(self):
        self.assertEqual(self.without_pipelining(self.ehlo('-s', '0')),
                         ['250-' + FQDN, '250-8BITMIME', '250 HELP'])

    @improvement('EHLO advertises PIPELINING, just before HELP')
    def test_ehlo_advertises_pipelining_before_help(self):
        self.assertEqual(self.ehlo('-s', '1000', '-u'),
                         ['250-' + FQDN, '250-SIZE 1000', '250-8BITMIME',
                          '250-SMTPUTF8', '250-PIPELINING', '250 HELP'])

    @improvement('without -s the size limit is 33554432 (Python\'s CLI forgets it)')
    def test_ehlo_default_size_is_33554432(self):
        self.assertIn('250-SIZE 33554432', self.ehlo())

    def test_ehlo_without_hostname_is_501(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('EHLO'), '501 Syntax: EHLO hostname')

    def test_ehlo_without_hostname_allows_a_later_ehlo(self):
        c = self.client(self.server())
        c.cmd('EHLO')
        self.assertTrue(c.cmd('EHLO client.example').startswith('250-'))


class NoopQuitRsetTest(ServerTestCase):

    def test_noop_is_250(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    def test_noop_before_helo_is_250(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assertEqual(c.cmd('noop'), '250 OK')

    def test_noop_with_argument_is_501(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('NOOP now'), '501 Syntax: NOOP')

    def test_quit_is_221_and_closes(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('QUIT'), '221 Bye')
        self.assertTrue(c.expect_closed(), 'connection still open after QUIT')

    def test_quit_ignores_its_argument(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('QUIT now please'), '221 Bye')
        self.assertTrue(c.expect_closed())

    def test_server_survives_a_quit(self):
        srv = self.server()
        c = self.client(srv)
        c.cmd('QUIT')
        self.assertEqual(self.client(srv).cmd('NOOP'), '250 OK')

    def test_rset_is_250(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('RSET'), '250 OK')

    def test_rset_with_argument_is_501(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('RSET all'), '501 Syntax: RSET')

    def test_rset_ends_the_transaction(self):
        c = self.helo_client(self.server())
        c.cmd('MAIL FROM:<a@example.com>')
        self.assertEqual(c.cmd('RSET'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '503 Error: need MAIL command')

    def test_rset_keeps_the_greeting(self):
        c = self.helo_client(self.server())
        c.cmd('RSET')
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        self.assertEqual(c.cmd('HELO again.example'), '503 Duplicate HELO/EHLO')

    def test_rset_allows_a_new_mail(self):
        c = self.helo_client(self.server())
        c.cmd('MAIL FROM:<a@example.com>')
        c.cmd('RCPT TO:<b@example.com>')
        c.cmd('RSET')
        self.assertEqual(c.cmd('MAIL FROM:<c@example.com>'), '250 OK')
        self.assertEqual(c.cmd('DATA'), '503 Error: need RCPT command')


class HelpTest(ServerTestCase):

    def test_help_lists_supported_commands(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('HELP'), '250 ' + SUPPORTED)

    def test_help_unknown_topic_is_501_with_the_list(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('HELP FROB'), '501 ' + SUPPORTED)

    def test_help_expn_is_501_with_the_list(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('HELP EXPN'), '501 ' + SUPPORTED)

    def test_help_for_each_command(self):
        c = self.client(self.server())
        expected = {
            'EHLO': '250 Syntax: EHLO hostname',
            'HELO': '250 Syntax: HELO hostname',
            'MAIL': '250 Syntax: MAIL FROM: <address>',
            'RCPT': '250 Syntax: RCPT TO: <address>',
            'DATA': '250 Syntax: DATA',
            'RSET': '250 Syntax: RSET',
            'NOOP': '250 Syntax: NOOP',
            'QUIT': '250 Syntax: QUIT',
            'VRFY': '250 Syntax: VRFY <address>',
        }
        for topic, reply in expected.items():
            with self.subTest(topic=topic):
                self.assertEqual(c.cmd('HELP ' + topic), reply)

    def test_help_topic_is_case_insensitive(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('help mail'), '250 Syntax: MAIL FROM: <address>')

    def test_help_mail_and_rcpt_after_ehlo_mention_parameters(self):
        c = self.ehlo_client(self.server())
        self.assertEqual(c.cmd('HELP MAIL'),
                         '250 Syntax: MAIL FROM: <address> [SP <mail-parameters>]')
        self.assertEqual(c.cmd('HELP RCPT'),
                         '250 Syntax: RCPT TO: <address> [SP <mail-parameters>]')

    def test_help_mail_after_helo_has_no_parameters(self):
        c = self.helo_client(self.server())
        self.assertEqual(c.cmd('HELP MAIL'), '250 Syntax: MAIL FROM: <address>')


class VrfyExpnTest(ServerTestCase):

    CANNOT = '252 Cannot VRFY user, but will accept message and attempt delivery'

    def test_vrfy_address_is_252(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('VRFY <someone@example.com>'), self.CANNOT)

    def test_vrfy_bare_name_is_252(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('VRFY someone'), self.CANNOT)

    def test_vrfy_without_argument_is_501(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('VRFY'), '501 Syntax: VRFY <address>')

    def test_vrfy_empty_quoted_string_is_502(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('VRFY ""'), '502 Could not VRFY ""')

    def test_expn_is_502(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('EXPN staff'), '502 EXPN not implemented')

    def test_expn_without_argument_is_502(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('EXPN'), '502 EXPN not implemented')


class UnknownAndMalformedTest(ServerTestCase):

    def test_unknown_command_is_500(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('FROB'), '500 Error: command "FROB" not recognized')

    def test_unknown_command_is_named_in_upper_case(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('frob the widget'), '500 Error: command "FROB" not recognized')

    def test_empty_line_is_500_bad_syntax(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd(''), '500 Error: bad syntax')

    def test_connection_survives_errors(self):
        c = self.client(self.server())
        c.cmd('')
        c.cmd('FROB')
        self.assertEqual(c.cmd('NOOP'), '250 OK')


class StateErrorTest(ServerTestCase):

    def test_mail_before_helo_is_503(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '503 Error: send HELO first')

    def test_rcpt_before_helo_is_503(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('RCPT TO:<a@example.com>'), '503 Error: send HELO first')

    def test_data_before_helo_is_503(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd('DATA'), '503 Error: send HELO first')

    def test_rcpt_before_mail_is_503(self):
        c = self.helo_client(self.server())
        self.assertEqual(c.cmd('RCPT TO:<a@example.com>'), '503 Error: need MAIL command')

    def test_data_before_mail_is_503_need_rcpt(self):
        c = self.helo_client(self.server())
        self.assertEqual(c.cmd('DATA'), '503 Error: need RCPT command')

    def test_data_before_rcpt_is_503(self):
        c = self.helo_client(self.server())
        c.cmd('MAIL FROM:<a@example.com>')
        self.assertEqual(c.cmd('DATA'), '503 Error: need RCPT command')

    def test_nested_mail_is_503(self):
        c = self.helo_client(self.server())
        c.cmd('MAIL FROM:<a@example.com>')
        self.assertEqual(c.cmd('MAIL FROM:<b@example.com>'), '503 Error: nested MAIL command')

    def test_data_with_argument_is_501(self):
        c = self.helo_client(self.server())
        c.cmd('MAIL FROM:<a@example.com>')
        c.cmd('RCPT TO:<b@example.com>')
        self.assertEqual(c.cmd('DATA now'), '501 Syntax: DATA')

    def test_data_is_354(self):
        c = self.helo_client(self.server())
        c.cmd('MAIL FROM:<a@example.com>')
        c.cmd('RCPT TO:<b@example.com>')
        self.assertEqual(c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>')


class LineLengthTest(ServerTestCase):
    """512 bytes per command line (CRLF excluded); MAIL gets +26 for SIZE, +10 for SMTPUTF8."""

    def line(self, prefix, length, suffix=''):
        return prefix + 'x' * (length - len(prefix) - len(suffix)) + suffix

    def mail(self, length):
        return self.line('MAIL FROM:<', length, '@example.com>')

    def test_command_of_512_bytes_is_accepted(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd(self.line('HELP ', 512)), '501 ' + SUPPORTED)

    def test_command_of_513_bytes_is_500_line_too_long(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd(self.line('HELP ', 513)), '500 Error: line too long')

    def test_unknown_command_too_long_is_500_line_too_long(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd(self.line('FROB', 600)), '500 Error: line too long')

    def test_very_long_line_is_500_and_connection_survives(self):
        c = self.client(self.server())
        self.assertEqual(c.cmd(self.line('NOOP ', 100000)), '500 Error: line too long')
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    def test_long_line_without_space_is_500_and_server_survives(self):
        srv = self.server()
        c = self.client(srv)
        self.assertEqual(c.cmd('x' * 600), '500 Error: line too long')
        self.assertEqual(c.cmd('NOOP'), '250 OK')
        self.assertEqual(self.client(srv).cmd('NOOP'), '250 OK')

    def test_long_helo_hostname_is_500_and_server_survives(self):
        srv = self.server()
        c = self.client(srv)
        self.assertEqual(c.cmd('HELO' + 'y' * 600), '500 Error: line too long')
        self.assertEqual(self.client(srv).cmd('NOOP'), '250 OK')

    def test_mail_after_helo_is_limited_to_512(self):
        c = self.helo_client(self.server('-s', '1000', '-u'))
        self.assertEqual(c.cmd(self.mail(512)), '250 OK')
        c.cmd('RSET')
        self.assertEqual(c.cmd(self.mail(513)), '500 Error: line too long')

    def test_mail_after_ehlo_with_size_allows_538(self):
        c = self.ehlo_client(self.server('-s', '1000'))
        self.assertEqual(c.cmd(self.mail(538)), '250 OK')

    def test_mail_after_ehlo_with_size_of_539_is_too_long(self):
        c = self.ehlo_client(self.server('-s', '1000'))
        self.assertEqual(c.cmd(self.mail(539)), '500 Error: line too long')

    def test_mail_after_ehlo_with_size_and_smtputf8_allows_548(self):
        c = self.ehlo_client(self.server('-s', '1000', '-u'))
        self.assertEqual(c.cmd(self.mail(548)), '250 OK')
        c.cmd('RSET')
        self.assertEqual(c.cmd(self.mail(549)), '500 Error: line too long')

    def test_mail_after_ehlo_without_size_limit_allows_512_only(self):
        c = self.ehlo_client(self.server('-s', '0'))
        self.assertEqual(c.cmd(self.mail(512)), '250 OK')
        c.cmd('RSET')
        self.assertEqual(c.cmd(self.mail(513)), '500 Error: line too long')

    def test_rcpt_after_ehlo_stays_limited_to_512(self):
        c = self.ehlo_client(self.server('-s', '1000', '-u'))
        c.cmd('MAIL FROM:<a@example.com>')
        rcpt = self.line('RCPT TO:<', 513, '@example.com>')
        self.assertEqual(c.cmd(rcpt), '500 Error: line too long')

    def test_limit_counts_bytes_not_characters(self):
        c = self.client(self.server())
        # 5 + 254 * 2 = 513 bytes in 259 characters.
        self.assertEqual(c.cmd('HELP ' + '\u00e9' * 254), '500 Error: line too long')


if __name__ == '__main__':
    unittest.main()
