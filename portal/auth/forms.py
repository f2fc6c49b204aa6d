from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.web.validators import EmailAddress


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me logged in on this computer")
    submit = SubmitField("Log in")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    submit = SubmitField("E-mail me a link")


class ChoosePasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )
    submit = SubmitField("Save password")


class UnlockForm(FlaskForm):
    submit = SubmitField("Unlock")
