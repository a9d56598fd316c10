# SPDX-License-Identifier: ISC
"""MAIL and RCPT: address forms, ESMTP parameters (SIZE, BODY, SMTPUTF8), syntax errors."""
import unittest

from helpers import ServerTestCase, improvement

MAIL_SYNTAX = '501 Syntax: MAIL FROM: <address>'
MAIL_SYNTAX_EXT = '501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]'
RCPT_SYNTAX = '501 Syntax: RCPT TO: <address>'
RCPT_SYNTAX_EXT = '501 Syntax: RCPT TO: <address> [SP <mail-parameters>]'
BODY_ERROR = '501 Error: BODY can only be one of 7BIT, 8BITMIME'
MAIL_555 = '555 MAIL FROM parameters not recognized or not implemented'
RCPT_555 = '555 RCPT TO parameters not recognized or not implemented'
SIZE_552 = '552 Error: message size exceeds fixed maximum message size'


class MailAddressTest(ServerTestCase):

    def mail(self, line, *options):
        c = self.ehlo_client(self.server(*options))
        return c.cmd(line)

    def test_mail_angle_address_is_250(self):
        self.assertEqual(self.mail('MAIL FROM:<a@example.com>'), '250 OK')

    def test_mail_null_sender_is_250(self):
        self.assertEqual(self.mail('MAIL FROM:<>'), '250 OK')

    def test_mail_bare_address_is_250(self):
        self.assertEqual(self.mail('MAIL FROM:a@example.com'), '250 OK')

    def test_mail_quoted_local_part_is_250(self):
        self.assertEqual(self.mail('MAIL FROM:<"john doe"@ex.com>'), '250 OK')

    def test_bare_address_after_a_longer_line_is_250(self):
        # The previous, longer line must not leak into the parse of this one.
        c = self.ehlo_client(self.server())
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        self.assertEqual(c.cmd('RSET'), '250 OK')
        self.assertEqual(c.cmd('MAIL FROM:a@b'), '250 OK')

    def test_unclosed_angle_after_a_longer_line_is_501(self):
        c = self.client(self.server(), timeout=2)
        c.cmd('EHLO client.with.a.rather.long.name.example')
        self.assertEqual(c.cmd('MAIL FROM:<a@b>'), '250 OK')
        c.cmd('RSET')
        # Python's parser accepts '<a@b' (no closing bracket) as a@b.
        self.assertEqual(c.cmd('MAIL FROM:<a@b'), '250 OK')

    def test_mail_space_after_colon_is_250(self):
        self.assertEqual(self.mail('MAIL FROM: <a@example.com>'), '250 OK')

    def test_mail_keyword_is_case_insensitive(self):
        self.assertEqual(self.mail('mail from:<a@example.com>'), '250 OK')

    def test_mail_without_argument_is_501(self):
        self.assertEqual(self.mail('MAIL'), MAIL_SYNTAX_EXT)

    def test_mail_without_from_keyword_is_501(self):
        self.assertEqual(self.mail('MAIL <a@example.com>'), MAIL_SYNTAX_EXT)

    def test_mail_from_without_address_is_501(self):
        self.assertEqual(self.mail('MAIL FROM:'), MAIL_SYNTAX_EXT)

    def test_mail_syntax_error_after_helo_has_no_parameters(self):
        c = self.helo_client(self.server())
        self.assertEqual(c.cmd('MAIL TO:<a@example.com>'), MAIL_SYNTAX)

    def test_mail_parameters_after_helo_are_501(self):
        c = self.helo_client(self.server('-s', '1000'))
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com> SIZE=10'), MAIL_SYNTAX)

    # Python's address parser raises on these and drops the connection.
    @improvement('a malformed address is a 501 and the connection stays up')
    def test_mail_from_at_domain_is_501_and_connection_stays(self):
        c = self.ehlo_client(self.server(), timeout=2)
        self.assertEqual(c.cmd('MAIL FROM:@b'), MAIL_SYNTAX_EXT)
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    @improvement('a malformed address is a 501 and the connection stays up')
    def test_mail_unclosed_angle_without_address_is_501(self):
        c = self.ehlo_client(self.server(), timeout=2)
        self.assertEqual(c.cmd('MAIL FROM:<'), MAIL_SYNTAX_EXT)
        self.assertEqual(c.cmd('NOOP'), '250 OK')


class MailParameterTest(ServerTestCase):

    def mail(self, params, *options):
        c = self.ehlo_client(self.server(*options))
        return c.cmd('MAIL FROM:<a@example.com> ' + params)

    def test_size_within_limit_is_250(self):
        self.assertEqual(self.mail('SIZE=1000', '-s', '1000'), '250 OK')

    def test_size_over_limit_is_552(self):
        self.assertEqual(self.mail('SIZE=1001', '-s', '1000'), SIZE_552)

    def test_size_over_limit_leaves_no_transaction(self):
        c = self.ehlo_client(self.server('-s', '1000'))
        c.cmd('MAIL FROM:<a@example.com> SIZE=5000')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '503 Error: need MAIL command')

    def test_size_is_not_limited_with_size_zero(self):
        self.assertEqual(self.mail('SIZE=999999999999', '-s', '0'), '250 OK')

    def test_size_not_a_number_is_501(self):
        self.assertEqual(self.mail('SIZE=big', '-s', '1000'), MAIL_SYNTAX_EXT)

    @improvement('SIZE without a value is a 501 (Python raises and drops the connection)')
    def test_size_without_value_is_501_and_connection_stays(self):
        c = self.ehlo_client(self.server('-s', '1000'), timeout=2)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com> SIZE'), MAIL_SYNTAX_EXT)
        self.assertEqual(c.cmd('NOOP'), '250 OK')

    @improvement('without -s the limit is 33554432')
    def test_size_over_default_limit_is_552(self):
        self.assertEqual(self.mail('SIZE=33554433'), SIZE_552)

    def test_body_7bit_is_250(self):
        self.assertEqual(self.mail('BODY=7BIT'), '250 OK')

    def test_body_8bitmime_is_250(self):
        self.assertEqual(self.mail('BODY=8BITMIME'), '250 OK')

    def test_body_is_case_insensitive(self):
        self.assertEqual(self.mail('body=8bitmime'), '250 OK')

    def test_body_other_value_is_501(self):
        self.assertEqual(self.mail('BODY=BINARYMIME'), BODY_ERROR)

    def test_body_without_value_is_501_body_error(self):
        self.assertEqual(self.mail('BODY'), BODY_ERROR)

    def test_body_and_size_together_are_250(self):
        self.assertEqual(self.mail('BODY=8BITMIME SIZE=100', '-s', '1000'), '250 OK')

    def test_smtputf8_without_u_option_is_555(self):
        self.assertEqual(self.mail('SMTPUTF8'), MAIL_555)

    def test_smtputf8_with_u_option_is_250(self):
        self.assertEqual(self.mail('SMTPUTF8', '-u'), '250 OK')

    def test_smtputf8_with_a_value_is_501(self):
        self.assertEqual(self.mail('SMTPUTF8=yes', '-u'), '501 Error: SMTPUTF8 takes no arguments')

    def test_smtputf8_with_non_ascii_address_is_250(self):
        c = self.ehlo_client(self.server('-u'))
        self.assertEqual(c.cmd('MAIL FROM:<j\u00f6rg@b\u00fccher.example> SMTPUTF8'), '250 OK')
        self.assertEqual(c.cmd('RCPT TO:<\u00e9mile@ex\u00e4mple.com>'), '250 OK')

    def test_unknown_parameter_is_555(self):
        self.assertEqual(self.mail('FOO=bar'), MAIL_555)

    def test_unknown_flag_parameter_is_555(self):
        self.assertEqual(self.mail('XFLAG'), MAIL_555)

    def test_parameter_with_empty_value_is_501(self):
        self.assertEqual(self.mail('FOO='), MAIL_SYNTAX_EXT)

    def test_parameter_with_bad_keyword_is_501(self):
        self.assertEqual(self.mail('F-O=1'), MAIL_SYNTAX_EXT)

    def test_rejected_parameters_leave_no_transaction(self):
        c = self.ehlo_client(self.server())
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com> FOO=bar'), MAIL_555)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')

    def test_syntax_error_is_reported_before_nested_mail(self):
        c = self.ehlo_client(self.server())
        c.cmd('MAIL FROM:<a@example.com>')
        self.assertEqual(c.cmd('MAIL'), MAIL_SYNTAX_EXT)
        self.assertEqual(c.cmd('MAIL FROM:<b@example.com>'), '503 Error: nested MAIL command')


class RcptTest(ServerTestCase):

    def rcpt_client(self, *options, helo=False):
        srv = self.server(*options)
        c = self.helo_client(srv) if helo else self.ehlo_client(srv)
        self.assertEqual(c.cmd('MAIL FROM:<a@example.com>'), '250 OK')
        return c

    def test_rcpt_angle_address_is_250(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO:<b@example.com>'), '250 OK')

    def test_rcpt_bare_address_is_250(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO:b@example.com'), '250 OK')

    def test_rcpt_bare_short_address_is_250(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO:b@c'), '250 OK')

    def test_rcpt_bare_local_part_is_250(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO:b'), '250 OK')

    def test_rcpt_quoted_local_part_is_250(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO:<"john doe"@ex.com>'), '250 OK')

    def test_rcpt_space_after_colon_is_250(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO: <b@example.com>'), '250 OK')

    def test_several_recipients_are_each_250(self):
        c = self.rcpt_client()
        for i in range(5):
            self.assertEqual(c.cmd('RCPT TO:<r%d@example.com>' % i), '250 OK')

    def test_duplicate_recipient_is_250(self):
        c = self.rcpt_client()
        c.cmd('RCPT TO:<b@example.com>')
        self.assertEqual(c.cmd('RCPT TO:<b@example.com>'), '250 OK')

    def test_rcpt_without_argument_is_501(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT'), RCPT_SYNTAX_EXT)

    def test_rcpt_without_to_keyword_is_501(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT <b@example.com>'), RCPT_SYNTAX_EXT)

    def test_rcpt_syntax_error_after_helo_has_no_parameters(self):
        self.assertEqual(self.rcpt_client(helo=True).cmd('RCPT b@example.com'), RCPT_SYNTAX)

    def test_rcpt_parameters_after_helo_are_501(self):
        self.assertEqual(self.rcpt_client(helo=True).cmd('RCPT TO:<b@example.com> NOTIFY=NEVER'),
                         RCPT_SYNTAX)

    def test_rcpt_parameter_is_555(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO:<b@example.com> NOTIFY=NEVER'), RCPT_555)

    def test_rcpt_parameter_with_empty_value_is_501(self):
        self.assertEqual(self.rcpt_client().cmd('RCPT TO:<b@example.com> NOTIFY='), RCPT_SYNTAX_EXT)

    def test_rejected_recipient_is_not_added(self):
        c = self.rcpt_client()
        c.cmd('RCPT TO:<b@example.com> NOTIFY=NEVER')
        self.assertEqual(c.cmd('DATA'), '503 Error: need RCPT command')

    @improvement('a malformed address is a 501 and the connection stays up')
    def test_rcpt_at_domain_is_501_and_connection_stays(self):
        c = self.rcpt_client()
        c.timeout = 2
        self.assertEqual(c.cmd('RCPT TO:@b'), RCPT_SYNTAX_EXT)
        self.assertEqual(c.cmd('NOOP'), '250 OK')


if __name__ == '__main__':
    unittest.main()
